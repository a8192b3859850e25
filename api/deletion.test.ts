import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/** A DELETE that races a deploy: the deploy is refused while the name drains, and the DELETE says what it did. */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

const SLOW = `exports.handler = async (req) => {
  if (req.path === '/slow') await new Promise((resolve) => setTimeout(resolve, Number(req.query.ms ?? 600)));
  return { version: process.env.VERSION ?? 'first' };
};`;

async function deploy(name: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': SLOW }))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return fetch(`${server.url}/deploy`, { method: 'POST', body: form });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-deletion-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, auth: 'none' }), sandbox, log: silentLogger, watchManifests: false });
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('DELETE during a drain', () => {
  it('refuses a deploy of the name with 409 while the function drains, then deletes it and says so', async () => {
    expect((await deploy('x')).status).toBe(201);
    const createdAt = ((await (await fetch(`${server.url}/info/x`)).json()) as { createdAt: string }).createdAt;
    const running = fetch(`${server.url}/invoke/x/slow`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const deleting = fetch(`${server.url}/del/x`, { method: 'DELETE' });
    await new Promise((resolve) => setTimeout(resolve, 50));

    const redeploy = await deploy('x', { env: '{"VERSION":"second"}' });
    expect(redeploy.status).toBe(409);
    expect(await redeploy.json()).toEqual({
      code: 'FUNCTION_DELETING',
      error: 'function "x" is being deleted (its containers are draining); deploy it again once it is gone (GET /info/x answers 404)',
    });

    expect((await running).status).toBe(200);
    const deleted = await deleting;
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ deleted: 'x' });
    expect((await fetch(`${server.url}/info/x`)).status).toBe(404);

    // The name is free again: a new function, with a new createdAt.
    expect((await deploy('x', { env: '{"VERSION":"second"}' })).status).toBe(201);
    const again = (await (await fetch(`${server.url}/info/x`)).json()) as { createdAt: string; generation: number; spec: { env: Record<string, string> } };
    expect(again.createdAt).not.toBe(createdAt);
    expect(again).toMatchObject({ generation: 1, spec: { env: { VERSION: 'second' } } });
  });

  it('answers 202 deleting, not deleted, when the drain outlasts the wait', async () => {
    expect((await deploy('x', { timeoutMs: '5000' })).status).toBe(201);
    const running = fetch(`${server.url}/invoke/x/slow?ms=800`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await server.runtime.remove('x', 'api', 50)).toBe('deleting');
    expect((await deploy('x')).status).toBe(409);
    expect((await running).status).toBe(200);
    // A second DELETE waits for the one under way, and says it is done once it is.
    expect(await server.runtime.remove('x', 'api', 5_000)).toBe('deleted');
    expect((await fetch(`${server.url}/info/x`)).status).toBe(404);
  });
});
