import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/** What a deploy checks before it answers: the entry's syntax, and with ?wait=ready that the code loads. */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-deploy-checks-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, auth: 'none', startTimeoutMs: 5000 }), sandbox, log: silentLogger, watchManifests: false });
});

afterAll(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

async function deploy(name: string, files: Record<string, string>, query = ''): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip(files))]), `${name}.zip`);
  const res = await fetch(`${server.url}/deploy${query}`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('deploy-time checks', () => {
  it('refuses an entry with a syntax error with 400, file:line and the error, and stores nothing', async () => {
    const { status, body } = await deploy('typo', { 'index.js': 'exports.handler = async () => {\n  return { ok: true };\n}};\n' });
    expect(status).toBe(400);
    expect(body).toEqual({ code: 'INVALID_CODE', error: "index.js:3: SyntaxError: Unexpected token '}' (near: }};)" });
    expect((await fetch(`${server.url}/info/typo`)).status).toBe(404);
  });

  it('with ?wait=ready answers once a container of the new generation has loaded it', async () => {
    const { status, body } = await deploy('steady', { 'index.js': 'exports.handler = async () => "up";' }, '?wait=ready');
    expect(status).toBe(201);
    expect(body).toMatchObject({ function: 'steady', status: 'deployed', generation: 1, ready: true });
    const info = (await (await fetch(`${server.url}/info/steady`)).json()) as { status: { containers: Array<{ state: string; generation: number }> } };
    expect(info.status.containers).toEqual(expect.arrayContaining([expect.objectContaining({ state: 'ready', generation: 1 })]));
  });

  it('with ?wait=ready answers 422 NOT_READY with the load error of code that throws at load', async () => {
    const { status, body } = await deploy('broken', { 'index.js': 'throw new Error("no config at load");\nexports.handler = async () => "never";' }, '?wait=ready');
    expect(status).toBe(422);
    expect(body['code']).toBe('NOT_READY');
    expect(body['error']).toBe('generation 1 of function "broken" did not become ready: its function failed to load: Error: no config at load (at index.js:1:7)');
  });

  it('refuses a wait it does not know', async () => {
    const { status, body } = await deploy('steady', { 'index.js': 'exports.handler = async () => "up";' }, '?wait=forever');
    expect(status).toBe(400);
    expect(body['error']).toMatch(/wait: must be "ready"/);
  });
});
