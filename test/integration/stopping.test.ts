import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { compiledFile } from '../../controller/support/compiled-file.js';
import { LABELS } from '../../controller/sandbox/sandbox.js';
import { deploy, eventually, freePort, instanceContainers, integrationEnabled, invoke, makeZip, removeInstanceContainers, serveChild, useRuntimes } from './harness.js';

/** The built CLI with `env`; resolves with its exit code and output. */
function glambdar(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [compiledFile('api/cli.js'), ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

const HANDLER = 'exports.handler = async () => "ok";';

/**
 * A `glambdar serve` child on a fresh folder with one function that has a container (and a
 * stem cell when asked); `cleanup` kills it and removes whatever it left, even on failure.
 */
async function servedWithContainers(env: Record<string, string> = {}) {
  const dir = await mkdtemp('/tmp/glt-stop-');
  const served = await serveChild(dir, await freePort(), env);
  const cleanup = async () => {
    served.child.kill('SIGKILL');
    await removeInstanceContainers(served.instance);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    expect((await deploy(served.url, 'stopme.zip', await makeZip({ 'index.js': HANDLER }))).status).toBe(201);
    expect((await invoke(served.url, 'stopme')).status).toBe(200);
    return { ...served, dir, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

describe.runIf(integrationEnabled)('stopping and cleaning up (issue 23, item 8)', () => {
  const start = useRuntimes();

  it('glambdar down refuses while the runtime runs, then removes every container of the instance, stem cells too, and says which', { timeout: 120_000 }, async () => {
    const rt = await servedWithContainers({ GLAMBDAR_STEM_CELLS: '1' });
    try {
      await eventually(async () => {
        const all = await instanceContainers(rt.instance);
        return all.some((c) => c.Labels[LABELS.stem] === '1') && all.some((c) => c.Labels[LABELS.function] === 'stopme') ? all : undefined;
      }, 60_000, 'a function container and a stem cell');
      const env = { GLAMBDAR_DIR: rt.dir, GLAMBDAR_URL: rt.url };
      const refused = await glambdar(env, 'down');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`is running at ${rt.url}`);

      // A crash leaves everything, stem cells included; `down` is the clean stop.
      rt.child.kill('SIGKILL');
      await exited(rt.child);
      // What the kill left (a stem-born replica may have been replaced meanwhile): both kinds.
      const before = await instanceContainers(rt.instance);
      expect(before.some((c) => c.Labels[LABELS.stem] === '1')).toBe(true);
      expect(before.some((c) => c.Labels[LABELS.function] === 'stopme')).toBe(true);
      const down = await glambdar(env, 'down');
      expect(down.code).toBe(0);
      expect(down.stdout).toContain(`removed ${before.length} container(s) of instance ${rt.instance}`);
      expect(down.stdout).toContain('(function stopme)');
      expect(down.stdout).toMatch(/\(stem cell\b/);
      expect(await instanceContainers(rt.instance)).toEqual([]);
      const again = await glambdar(env, 'down');
      expect(again.stdout).toBe(`no containers of instance ${rt.instance} (${rt.dir})\n`);
    } finally {
      await rt.cleanup();
    }
  });

  it('serve with GLAMBDAR_CLEANUP_ON_EXIT=1 removes its containers on SIGTERM; without it they stay for the next start', { timeout: 120_000 }, async () => {
    const kept = await servedWithContainers();
    try {
      kept.child.kill('SIGTERM');
      expect(await exited(kept.child)).toBe(0);
      expect((await instanceContainers(kept.instance, 'stopme')).length).toBeGreaterThan(0);
    } finally {
      await kept.cleanup();
    }
    const clean = await servedWithContainers({ GLAMBDAR_CLEANUP_ON_EXIT: '1' });
    try {
      expect((await instanceContainers(clean.instance)).length).toBeGreaterThan(0);
      clean.child.kill('SIGTERM');
      expect(await exited(clean.child)).toBe(0);
      expect(await instanceContainers(clean.instance)).toEqual([]);
    } finally {
      await clean.cleanup();
    }
  });

  it('the containers of a runtime whose data folder is gone are removed by glambdar gc, and by any runtime at start', { timeout: 180_000 }, async () => {
    const first = await servedWithContainers();
    try {
      first.child.kill('SIGKILL');
      await exited(first.child);
      await rm(first.dir, { recursive: true, force: true });
      const orphans = await instanceContainers(first.instance);
      expect(orphans.length).toBeGreaterThan(0);
      expect(orphans.every((c) => c.Labels[LABELS.dir] === first.dir)).toBe(true);
      const gc = await glambdar({}, 'gc');
      expect(gc.code).toBe(0);
      expect(gc.stdout).toContain('orphaned container(s) (their data folder is gone)');
      for (const c of orphans) expect(gc.stdout).toContain(c.Names[0]!.replace(/^\//, ''));
      expect(await instanceContainers(first.instance)).toEqual([]);
    } finally {
      await first.cleanup();
    }

    const second = await servedWithContainers();
    try {
      second.child.kill('SIGKILL');
      await exited(second.child);
      await rm(second.dir, { recursive: true, force: true });
      expect((await instanceContainers(second.instance)).length).toBeGreaterThan(0);
      const other = await start({ env: { stemCells: '0' } });
      // The other runtime's own containers are not orphans: its folder holds its instance.
      expect((await deploy(other.url, 'mine.zip', await makeZip({ 'index.js': HANDLER }))).status).toBe(201);
      expect((await invoke(other.url, 'mine')).status).toBe(200);
      await eventually(async () => ((await instanceContainers(second.instance)).length === 0 ? true : undefined), 30_000, 'the orphans to be removed at start');
      expect((await instanceContainers(other.instanceId, 'mine')).length).toBeGreaterThan(0);
    } finally {
      await second.cleanup();
    }
  });
});
