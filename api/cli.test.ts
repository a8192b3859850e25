import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { compiledFile } from '../controller/support/compiled-file.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

/** The environment of a local user of the runtime under test: no token given, its data folder where the CLI looks. */
function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GLAMBDAR_DIR: dir };
  delete env['GLAMBDAR_TOKEN'];
  return env;
}

/** The admin token the runtime wrote into its data folder. */
async function authorization(): Promise<Record<string, string>> {
  return { authorization: `Bearer ${(await readFile(join(dir, 'admin-token'), 'utf8')).trim()}` };
}

/** Runs the built CLI (`npm test` builds first) against `url`. */
function cli(url: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The CLI finds the admin token by itself, in the data folder of the runtime (as ~/.glambdar for a local user).
    execFile(process.execPath, [compiledFile('api/cli.js'), ...args], { env: { ...cliEnv(), GLAMBDAR_URL: url } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-cli-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0 }), sandbox, log: silentLogger, watchManifests: false });
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async () => ({ body: "hi" });' }))]), 'hello.zip');
  await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: await authorization() });
});

afterAll(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('the glambdar CLI client', () => {
  it('reads config fields as deploy reads form fields: numbers, env as JSON, and the server names a bad one', async () => {
    const ok = await cli(server.url, 'config', 'hello', 'rateLimit=3', 'env={"A":"b"}');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ rateLimit: 3, env: { A: 'b' } });
    const bad = await cli(server.url, 'config', 'hello', 'rateLimit=abc');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({ error: 'invalid config: rateLimit: Invalid input: expected number, received string', code: 'INVALID_INPUT' });
  });

  it('follows logs with -f: the last records, then each new one as a JSON line, until the function goes', async () => {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async (req) => { process.stdout.write(req.path + "\\n"); return "ok"; };' }))]), 'tail.zip');
    await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: await authorization() });
    await fetch(`${server.url}/invoke/tail/first`, { method: 'POST' });

    const child = spawn(process.execPath, [compiledFile('api/cli.js'), 'logs', 'tail', '-f'], { env: { ...cliEnv(), GLAMBDAR_URL: server.url } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await vi.waitFor(() => expect(out).toContain('"stdout":"/first\\n"'), { timeout: 5_000, interval: 20 });
      await fetch(`${server.url}/invoke/tail/second`, { method: 'POST' });
      await vi.waitFor(() => expect(out).toContain('"stdout":"/second\\n"'), { timeout: 5_000, interval: 20 });
      await fetch(`${server.url}/del/tail`, { method: 'DELETE', headers: await authorization() });
      expect(await exited).toBe(0);
    } finally {
      child.kill();
    }
    const lines = out.trim().split('\n').map((line) => JSON.parse(line) as { funcName: string; stdout: string });
    expect(lines.map((r) => [r.funcName, r.stdout])).toEqual([
      ['tail', '/first\n'],
      ['tail', '/second\n'],
    ]);
  });

  it('says which address it could not reach', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const down = await cli(`http://127.0.0.1:${port}`, 'info');
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^glambdar: cannot reach the runtime at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); is it running\?/);
  });
});
