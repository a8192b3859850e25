import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Console } from 'node:console';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/**
 * Handler interfaces, handler paths and TypeScript through the HTTP API, with in-process workers
 * (FakeSandbox); the Docker tests (test/integration/interfaces.test.ts) run them in containers.
 */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let token: string;

/** A control-route request, with the admin token the runtime wrote to its data folder. */
function control(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

async function deploy(name: string, files: Record<string, string>, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip(files))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return control('/deploy', { method: 'POST', body: form });
}

async function configure(name: string, patch: unknown): Promise<Response> {
  return control(`/config/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
}

const vitestConsole = globalThis.console;
beforeAll(() => {
  globalThis.console = new Console(process.stdout, process.stderr);
});
afterAll(() => {
  globalThis.console = vitestConsole;
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-iface-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({
    config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, queueTimeoutMs: 5000 }),
    sandbox,
    log: silentLogger,
    watchManifests: false,
  });
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('handler interfaces over HTTP', () => {
  it('runs a lambda function chosen by the interface field, its request id the invocation id', async () => {
    const code = `exports.handler = async (event, context) => ({ statusCode: 200, body: JSON.stringify({ id: context.awsRequestId, q: event.queryStringParameters }) });`;
    expect((await deploy('aws', { 'index.js': code }, { interface: 'lambda' })).status).toBe(201);
    const res = await fetch(`${server.url}/invoke/aws?x=1`);
    expect(await res.json()).toEqual({ id: res.headers.get('x-glambdar-request-id'), q: { x: '1' } });
    const info = (await (await control('/info/aws')).json()) as { interface: string; spec: { interface: string } };
    expect(info).toMatchObject({ interface: 'lambda', spec: { interface: 'lambda' } });
  });

  it('shows the interface detected from the exports in /info and the table', async () => {
    await deploy('faas', { 'index.js': 'module.exports = async (event, context) => context.status(201).succeed({ path: event.path });' });
    const res = await fetch(`${server.url}/invoke/faas/x`);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ path: '/x' });
    await vi.waitFor(async () => expect(await (await control('/info/faas')).json()).toMatchObject({ interface: 'openfaas', status: { interface: 'openfaas' } }), {
      timeout: 5000,
      interval: 20,
    });
    const table = await (await control('/info?format=table')).text();
    expect(table.split('\n')[1]).toMatch(/^faas\s.*\sopenfaas\s/);
  });

  it('answers FUNCTION_LOAD_FAILED naming the exports when a module fits no interface', async () => {
    await deploy('shapeless', { 'index.js': 'exports.main = () => 1;' });
    const res = await fetch(`${server.url}/invoke/shapeless`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('FUNCTION_LOAD_FAILED');
    expect(body.error).toContain('index.js fits no handler interface: it exports main (a function); accepted: exports.handler = function');
  });

  it('refuses an unknown interface and a malformed handler path, naming the field', async () => {
    const files = { 'index.js': 'exports.handler = () => 1;' };
    const bad = await deploy('bad', files, { interface: 'azure' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('interface: Invalid option: expected one of "glambdar"|"lambda"|"openfaas"|"knative"|"fetch"');
    const traversal = await deploy('bad', files, { handler: '../etc/passwd.x' });
    expect(traversal.status).toBe(400);
    expect(((await traversal.json()) as { error: string }).error).toContain('handler: must be a relative path');
  });
});

describe('handler paths and TypeScript over HTTP', () => {
  const TS = "import type { Q } from './types';\nexport const handler = async (req: { query: Q }) => ({ hi: req.query.name });\n";

  it('compiles a TypeScript entry at deploy and runs it from its handler path', async () => {
    const res = await deploy('typed', { 'src/app.ts': TS, 'src/types.ts': 'export type Q = { name?: string };\n' }, { handler: 'src/app.handler' });
    expect(res.status).toBe(201);
    expect(await (await fetch(`${server.url}/invoke/typed?name=ts`)).json()).toEqual({ hi: 'ts' });
  });

  it('refuses a compile error with 400 and keeps the running version', async () => {
    await deploy('keep', { 'index.js': 'exports.handler = async () => "v1";' });
    const res = await deploy('keep', { 'index.ts': 'export const handler = async () => {\n  return 1 +;\n};\n' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'TypeScript compile failed: index.ts:2:13: Unexpected ";"', code: 'COMPILE_FAILED' });
    expect(await (await fetch(`${server.url}/invoke/keep`)).text()).toBe('v1');
  });

  it('moves the handler with POST /config, compiling the new entry; a missing file is refused before any write', async () => {
    const files = { 'index.js': 'exports.handler = async () => "js";', 'other.ts': 'export const handler = async (): Promise<string> => "ts";\n' };
    await deploy('moving', files);
    const missing = await configure('moving', { handler: 'nothere.handler' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe('code folder has no nothere.{mjs,js,cjs,ts,mts,cts} (spec.handler "nothere.handler")');
    const moved = await configure('moving', { handler: 'other.handler' });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ handler: 'other.handler', generation: 2 });
    await vi.waitFor(async () => expect(await (await fetch(`${server.url}/invoke/moving`)).text()).toBe('ts'), { timeout: 5000, interval: 20 });
  });

  it('refuses a zip whose package.json dependencies are missing from node_modules', async () => {
    const res = await deploy('nodeps', { 'index.js': 'exports.handler = () => 1;', 'package.json': '{"dependencies":{"left-pad":"1"}}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^package\.json declares dependencies missing from node_modules: "left-pad"\. .*zip node_modules/);
  });
});
