import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

/** Runs the built CLI (`npm test` builds first) against `url`; `env` adds to a local user's environment, `input` is its stdin. */
function cli(url: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cliWith({}, url, ...args);
}

function cliWith(env: NodeJS.ProcessEnv, url: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // The CLI finds the admin token by itself, in the data folder of the runtime (as ~/.glambdar for a local user).
    const child = execFile(process.execPath, [compiledFile('api/cli.js'), ...args], { env: { ...cliEnv(), GLAMBDAR_URL: url, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(env['STDIN'] ?? '');
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
  it('ui prints the dashboard address and where the token is, never the token, and says when the token is refused', async () => {
    const token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
    const ok = await cli(server.url, 'ui');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${server.url}/ui\n`);
    expect(ok.stderr).toContain(join(dir, 'admin-token'));
    expect(ok.stdout + ok.stderr).not.toContain(token);
    const refused = await cliWith({ GLAMBDAR_TOKEN: 'not-the-token' }, server.url, 'ui');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe(`${server.url}/ui\n`);
    expect(refused.stderr).toContain('refused the token in GLAMBDAR_TOKEN');
  });

  it('reads config fields as deploy reads form fields: numbers, env as JSON, and the server names a bad one', async () => {
    const ok = await cli(server.url, 'config', 'hello', 'rateLimit=3', 'env={"A":"b"}');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ rateLimit: 3, env: { A: 'b' } });
    const bad = await cli(server.url, 'config', 'hello', 'rateLimit=abc');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({ error: 'invalid config: rateLimit: Invalid input: expected number, received string', code: 'INVALID_INPUT' });
  });

  it('follows logs with -f -o json: the last records, then each new one as a JSON line, until the function goes', async () => {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async (req) => { process.stdout.write(req.path + "\\n"); return "ok"; };' }))]), 'tail.zip');
    await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: await authorization() });
    await fetch(`${server.url}/invoke/tail/first`, { method: 'POST' });

    const child = spawn(process.execPath, [compiledFile('api/cli.js'), 'logs', 'tail', '-f', '-o', 'json'], { env: { ...cliEnv(), GLAMBDAR_URL: server.url } });
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

  it('lists revisions as a table and rolls back to a number, a tag, or the revision before the latest', async () => {
    for (const v of ['one', 'two']) {
      const form = new FormData();
      form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': `exports.handler = async () => "${v}";` }))]), 'back.zip');
      await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: await authorization() });
    }
    const table = await cli(server.url, 'revisions', 'back');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n').map((line) => line.split(/\s+/)[0])).toEqual(['REVISION', '1', '2', '']);
    expect(table.stdout).toMatch(/^2 \(latest\)\s+\S+\s+100%/m);

    expect(JSON.parse((await cli(server.url, 'rollback', 'back')).stdout)).toMatchObject({ generation: 3, rolledBackTo: 1 });
    expect(JSON.parse((await cli(server.url, 'rollback', 'back', '2')).stdout)).toMatchObject({ generation: 4, rolledBackTo: 2 });
    await cli(server.url, 'config', 'back', 'traffic=[{"revision":1,"percent":100,"tag":"first"}]');
    expect(JSON.parse((await cli(server.url, 'rollback', 'back', 'first')).stdout)).toMatchObject({ generation: 6, rolledBackTo: 1 });
    const missing = await cli(server.url, 'rollback', 'back', '42');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringContaining('revision 42') });
  });

  it('queues an async invocation, lists jobs, shows one and retries a dead one', async () => {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async (req) => { if (req.path === "/") throw new Error("no"); return "ok"; };' }))]), 'failing.zip');
    form.set('retry', '{"attempts":1}');
    await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: await authorization() });
    const queued = await cli(server.url, 'invoke', '--async', 'failing', '{"a":1}');
    expect(queued.code).toBe(0);
    const { requestId, status } = JSON.parse(queued.stdout) as { requestId: string; status: string };
    expect(status).toBe('queued');
    await vi.waitFor(async () => expect(JSON.parse((await cli(server.url, 'job', requestId)).stdout)).toMatchObject({ status: 'dead', attempts: 1 }), {
      timeout: 5_000,
      interval: 50,
    });
    const dead = await cli(server.url, 'jobs', 'failing', '--status', 'dead');
    const [header, row] = dead.stdout.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['REQUEST-ID', 'FUNCTION', 'STATUS', 'ATTEMPTS', 'CODE', 'CREATED', 'ERROR']);
    expect(row!.split(/\s+/).slice(0, 5)).toEqual([requestId, 'failing', 'dead', '1', '500']);
    const retried = await cli(server.url, 'retry', requestId);
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({ requestId, status: 'queued' });
    const missing = await cli(server.url, 'job', 'nope');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ code: 'JOB_NOT_FOUND' });
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

  it('sends the token from GLAMBDAR_TOKEN before the file, and after a 401 says where the token it sent came from', async () => {
    const wrong = await cliWith({ GLAMBDAR_TOKEN: 'not-the-token-0123456789' }, server.url, 'info');
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout)).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(wrong.stderr).toMatch(/^glambdar: the runtime refused the token in GLAMBDAR_TOKEN/);
    const nowhere = await mkdtemp(join(tmpdir(), 'glb-cli-none-'));
    try {
      const none = await cliWith({ GLAMBDAR_DIR: nowhere }, server.url, 'info');
      expect(none.code).toBe(1);
      expect(none.stderr).toBe(`glambdar: no admin token found: set GLAMBDAR_TOKEN, or run where the runtime keeps its data (looked for ${join(nowhere, 'admin-token')})\n`);
    } finally {
      await rm(nowhere, { recursive: true, force: true });
    }
    expect((await cliWith({ GLAMBDAR_TOKEN: (await authorization())['authorization']!.slice(7) }, server.url, 'info')).code).toBe(0);
  });

  it('sets secrets from an argument, a file or stdin, lists them without values, and removes them', async () => {
    const file = join(dir, 'tmp', 'pw.txt');
    await writeFile(file, 'from-a-file');
    expect(JSON.parse((await cli(server.url, 'secret', 'set', 'one', 'from-the-argument')).stdout)).toMatchObject({ name: 'one', size: 17, status: 'created' });
    expect(JSON.parse((await cli(server.url, 'secret', 'set', 'two', '--from-file', file)).stdout)).toMatchObject({ name: 'two', size: 11 });
    expect(JSON.parse((await cliWith({ STDIN: 'from-stdin' }, server.url, 'secret', 'set', 'three', '-')).stdout)).toMatchObject({ name: 'three', size: 10 });
    const ls = await cli(server.url, 'secret', 'ls');
    expect(ls.code).toBe(0);
    const rows = ls.stdout.trimEnd().split('\n').map((line) => line.split(/\s{3,}/));
    expect(rows.map((r) => [r[0], r[1], r[3]])).toEqual([
      ['NAME', 'SIZE', 'USED BY'],
      ['one', '17', '-'],
      ['three', '10', '-'],
      ['two', '11', '-'],
    ]);
    expect(ls.stdout).not.toMatch(/from-/);
    expect(JSON.parse((await cli(server.url, 'secret', 'rm', 'one')).stdout)).toEqual({ deleted: 'one' });
    const bad = await cli(server.url, 'secret', 'set', 'four');
    expect(bad).toMatchObject({ code: 1, stderr: 'glambdar: secret set needs a value: --from-file F, the value, or - to read stdin\n' });
  });

  it('makes, lists and revokes keys, and invokes a private function with --key', async () => {
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async () => ({ body: "secret hi" });' }))]), 'vault.zip');
    form.set('auth', 'key');
    await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: await authorization() });
    const made = JSON.parse((await cli(server.url, 'keys', 'create', 'vault')).stdout) as { id: string; key: string };
    expect(made.key).toMatch(/^gk_/);
    expect((await cli(server.url, 'invoke', 'vault', '{}', '--key', made.key)).stdout).toBe('secret hi\n');
    // Without --key, the local user's admin token opens it too.
    expect((await cli(server.url, 'invoke', 'vault')).stdout).toBe('secret hi\n');
    expect(JSON.parse((await cli(server.url, 'keys', 'ls', 'vault')).stdout)).toMatchObject({ count: 1, keys: [{ id: made.id }] });
    expect(JSON.parse((await cli(server.url, 'keys', 'rm', 'vault', made.id)).stdout)).toEqual({ function: 'vault', revoked: made.id });
    const refused = await cli(server.url, 'invoke', 'vault', '{}', '--key', made.key);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('glambdar: the runtime refused the key; make one with `glambdar keys create <function>`\n');
  });
});
