import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/** What a new user is told when they get something wrong: each message says what to do instead. */

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-messages-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, auth: 'none' }), sandbox, log: silentLogger, watchManifests: false });
});

afterAll(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

async function upload(fileName: string, bytes: Buffer, fields: Record<string, string> = {}): Promise<{ status: number; body: { error: string; code: string } }> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(bytes)]), fileName);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`${server.url}/deploy`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as { error: string; code: string } };
}

describe('deploy messages', () => {
  it('says a bare index.js is not a zip, and how to make one', async () => {
    const { status, body } = await upload('index.js', Buffer.from('exports.handler = async () => "hi";'));
    expect(status).toBe(400);
    expect(body.code).toBe('INVALID_ARCHIVE');
    expect(body.error).toBe('upload "index.js" is not a zip archive: zip the function\'s folder (e.g. cd myfunc && zip -r ../myfunc.zip .) and deploy the .zip');
  });

  it('suggests a name field when the zip\'s file name is not a valid function name', async () => {
    const { status, body } = await upload('dueDate.zip', await makeZip({ 'index.js': 'exports.handler = async () => "hi";' }));
    expect(status).toBe(400);
    expect(body.code).toBe('INVALID_NAME');
    expect(body.error).toContain('"dueDate" is not a valid function name');
    expect(body.error).toContain('the name comes from the file name "dueDate.zip": rename the file, or give the name as a form field (curl -F name=due-date, glambdar deploy FILE name=due-date)');
    expect((await upload('dueDate.zip', await makeZip({ 'index.js': 'exports.handler = async () => "hi";' }), { name: 'due-date' })).status).toBe(201);
  });

  it('names the accepted entry files and what the zip holds instead', async () => {
    const { status, body } = await upload('typed.zip', await makeZip({ 'main.js': 'exports.handler = async () => "hi";', 'package.json': '{}' }));
    expect(status).toBe(400);
    expect(body.error).toBe('archive has no index.js (nor index.mjs, index.cjs, index.ts, index.mts, index.cts) at its root or in a single top-level folder (found: "main.js", "package.json")');
  });
});

describe('query and route messages', () => {
  it('gives the accepted formats of since', async () => {
    await upload('clock.zip', await makeZip({ 'index.js': 'exports.handler = async () => "hi";' }));
    const res = await fetch(`${server.url}/logs/clock?since=yesterday`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 'INVALID_INPUT',
      error: 'invalid query: since: must be milliseconds since the epoch (e.g. 1735689600000) or an ISO 8601 date-time with a zone (e.g. 2025-01-01T00:00:00Z or 2025-01-01T01:00:00+01:00)',
    });
    expect((await fetch(`${server.url}/logs/clock?since=2025-01-01T00:00:00Z`)).status).toBe(200);
    expect((await fetch(`${server.url}/logs/clock?since=1735689600000`)).status).toBe(200);
  });

  it('lists the routes at GET /, and points there from an unknown route', async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { name: string; version: string; routes: string[] };
    expect(body.name).toBe('glambdar');
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.routes).toEqual(expect.arrayContaining(['ANY /invoke/:name[@tag][/path]', 'POST /deploy', 'GET /info', 'GET /info/:name', 'DELETE /del/:name', 'GET /logs/:name', 'GET /']));
    const unknown = await fetch(`${server.url}/nothing`);
    expect(await unknown.json()).toEqual({ error: 'no route GET /nothing; GET / lists the routes', code: 'ROUTE_NOT_FOUND' });
  });
});
