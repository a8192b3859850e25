import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../../schemas/index.js';
import { silentLogger } from '../../controller/support/logger.js';
import { FakeSandbox } from '../../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../../test/zip.js';
import { readBack } from '../export/testing.js';
import { startServer, type GlambdarServer } from '../server.js';

/** `GET /export` end to end, with containers replaced by in-process workers (FakeSandbox). */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let token: string;

/** A control-route request with the admin token the runtime wrote into its data folder. */
function control(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

async function deploy(name: string, fields: Record<string, string> = {}): Promise<void> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': 'exports.handler = async () => "hi";' }))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await control(`/deploy`, { method: 'POST', body: form });
  expect(res.status).toBe(201);
}

async function codeDigest(name: string): Promise<string> {
  return ((await (await control(`/info/${name}`)).json()) as { codeDigest: string }).codeDigest;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-export-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({
    config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0 }),
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

describe('GET /export', () => {
  it("answers a function's Knative objects as YAML that validates, its image tagged by generation and code digest", async () => {
    await deploy('hello', { maxConcurrency: '4', env: '{"GREETING":"hi"}' });
    const res = await control(`/export/hello?format=knative&imagePrefix=ghcr.io/acme`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/yaml; charset=utf-8');
    const text = await res.text();
    const docs = readBack(text);
    expect(docs.map((d) => d.kind)).toEqual(['Service', 'NetworkPolicy']);
    const digest = await codeDigest('hello');
    expect(digest).toMatch(/^[0-9a-f]{12,}$/);
    expect(text).toContain(`image: ghcr.io/acme/hello:r1-${digest.slice(0, 12)}\n`);
    expect(text).toContain('containerConcurrency: 4\n');
    expect(text).toMatch(/^#   rateLimit: /m);
  });

  it('gives a new revision a new image tag', async () => {
    await deploy('hello');
    const before = await (await control(`/export/hello?format=kubernetes`)).text();
    await control(`/config/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"memoryMb":256}' });
    const after = await (await control(`/export/hello?format=kubernetes`)).text();
    const tag = (text: string) => /image: glambdar\/hello:(\S+)/.exec(text)?.[1];
    expect(tag(before)).toMatch(/^r1-/);
    expect(tag(after)).toMatch(/^r2-/);
    expect(tag(after)!.slice(3)).toBe(tag(before)!.slice(3));
  });

  it('exports every function with GET /export', async () => {
    await deploy('one');
    await deploy('two');
    const res = await control(`/export?format=kubernetes`);
    expect(res.status).toBe(200);
    expect(readBack(await res.text()).filter((d) => d.kind === 'Deployment').map((d) => d.metadata.name).sort()).toEqual(['one', 'two']);
  });

  it('answers 400 INVALID_INPUT naming the accepted formats for a bad or missing format, and for a bad image prefix', async () => {
    await deploy('hello');
    for (const query of ['format=helm', '']) {
      const res = await control(`/export/hello?${query}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid query: format: must be one of: knative, kubernetes', code: 'INVALID_INPUT' });
    }
    const prefix = await control(`/export?format=knative&imagePrefix=Bad/UPPER`);
    expect(prefix.status).toBe(400);
    expect(await prefix.json()).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(/imagePrefix: must be an image repository prefix/) });
  });

  it('answers 404 for an unknown function and 400 for an invalid name', async () => {
    expect(await (await control(`/export/ghost?format=knative`)).json()).toEqual({ error: 'function "ghost" not found', code: 'FUNCTION_NOT_FOUND' });
    expect((await control(`/export/Not_A_Label?format=knative`)).status).toBe(400);
  });

  it('answers 422 EXPORT_INVALID, and no YAML, for a spec the platform refuses', async () => {
    await deploy('hello', { env: '{"PORT":"9000"}' });
    const res = await control(`/export/hello?format=knative`);
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({ error: 'function "hello": env PORT is reserved by Knative; rename it in the spec to export', code: 'EXPORT_INVALID' });
  });
});
