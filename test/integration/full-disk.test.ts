import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { control, deploy, eventually, integrationEnabled, invoke, makeZip, useRuntimes } from './harness.js';

const MIB = 1024 * 1024;

/** Bytes free on the filesystem holding `path`. */
function freeBytes(path: string): number {
  return Number(execFileSync('df', ['--output=avail', '-B1', path], { encoding: 'utf8' }).trim().split('\n')[1]);
}

/** Fills the disk of `path` with a file until it is full, leaving `leaveBytes` free. */
async function fill(path: string, name: string, leaveBytes = 0): Promise<void> {
  const size = Math.max(0, freeBytes(path) - leaveBytes);
  await writeFile(join(path, name), Buffer.alloc(size)).catch((err: { code?: string }) => {
    if (err.code !== 'ENOSPC') throw err;
  });
}

describe.runIf(integrationEnabled)('a full data disk', () => {
  const start = useRuntimes();

  it('keeps answering, counts and logs the records it drops, deletes, and refuses a deploy with 507', { timeout: 180_000 }, async () => {
    const disk = await mkdtemp('/tmp/glf-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', disk]);
    try {
      const dir = join(disk, 'd');
      const rt = await start({ dir, env: { diskReserveMb: '8', stemCells: '0' } });
      // A function whose records are big: each invocation prints 256 KiB.
      const chatty = `exports.handler = async () => { process.stdout.write('x'.repeat(256 * 1024)); return 'ok'; };`;
      expect((await deploy(rt.url, 'chatty.zip', await makeZip({ 'index.js': chatty }))).status).toBe(201);
      expect((await deploy(rt.url, 'victim.zip', await makeZip({ 'index.js': 'exports.handler = async () => "still here";' }))).status).toBe(201);

      // Something else fills the disk down to 4 MiB, under the 8 MiB reserve.
      await fill(disk, 'filler', 4 * MIB);
      for (let i = 0; i < 20; i++) expect((await invoke(rt.url, 'chatty')).status).toBe(200);
      const metrics = await eventually(async () => {
        const text = await (await control(rt, `/metrics`)).text();
        const dropped = Number(/^glambdar_invocation_records_dropped_total (\d+)$/m.exec(text)?.[1]);
        return dropped >= 20 ? text : undefined;
      }, 10_000, 'dropped records counted');
      expect(metrics).toMatch(/^# TYPE glambdar_invocation_records_dropped_total counter$/m);

      // A deploy is refused before anything is written.
      const refused = await deploy(rt.url, 'newcomer.zip', await makeZip({ 'index.js': 'exports.handler = async () => "hi";' }));
      expect(refused.status).toBe(507);
      expect(await refused.json()).toMatchObject({ code: 'INSUFFICIENT_STORAGE', error: expect.stringMatching(/^the data disk is full \(\d+ MiB free, under GLAMBDAR_DISK_RESERVE_MB=8\): nothing was deployed/) });
      expect((await control(rt, `/info/newcomer`)).status).toBe(404);

      // Now the disk is full to the last byte: a DELETE still works (the ballast gives way) and frees space.
      await fill(disk, 'filler-2');
      const before = freeBytes(disk);
      const del = await control(rt, `/del/victim`, { method: 'DELETE' });
      expect(del.status).toBe(200);
      expect(await del.json()).toEqual({ deleted: 'victim' });
      expect(existsSync(join(dir, 'functions', 'victim'))).toBe(false);
      expect(freeBytes(disk)).toBeGreaterThan(before);
      // Invocations kept answering all along.
      expect((await invoke(rt.url, 'chatty')).status).toBe(200);
    } finally {
      execFileSync('umount', ['-l', disk]);
      await rm(disk, { recursive: true, force: true });
    }
  });
});
