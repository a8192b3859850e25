import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/** `/secrets` over HTTP, and specs that name secrets, with containers replaced by in-process workers. */

const HANDLER = 'exports.handler = async () => ({ body: "ok" });';

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let token: string;

const auth = () => ({ authorization: `Bearer ${token}` });
const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: { ...auth(), ...(init.headers as Record<string, string>) } });
/** As `curl --data-binary @file -X PUT` sends it (a form content type, which the route ignores). */
const putSecret = (name: string, value: string | Buffer) =>
  api(`/secrets/${name}`, { method: 'PUT', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: typeof value === 'string' ? value : new Uint8Array(value) });

async function deploy(name: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': HANDLER }))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return api('/deploy', { method: 'POST', body: form });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-secrets-api-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  await mkdir(join(dir, 'manifests'), { recursive: true });
  server = await startServer({
    config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0 }),
    sandbox,
    log: silentLogger,
    watchManifests: true,
  });
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('/secrets', () => {
  it('stores the raw body, and lists names, sizes, times and users, never the value', async () => {
    const created = await putSecret('db-password', 'hunter2&x=1');
    expect(created.status).toBe(201);
    const body = (await created.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ name: 'db-password', size: 11, status: 'created', usedBy: [], rolled: [] });
    expect((await putSecret('db-password', 'hunter2&x=1')).status).toBe(200);
    expect(await (await putSecret('db-password', 'hunter2&x=1')).json()).toMatchObject({ status: 'unchanged' });
    await deploy('reader', { secrets: 'db-password' });
    const listed = await (await api('/secrets')).json();
    expect(listed).toEqual({ count: 1, secrets: [{ name: 'db-password', size: 11, createdAt: expect.any(String), updatedAt: expect.any(String), usedBy: ['reader'] }] });
    expect(await (await api('/secrets/db-password')).json()).toMatchObject({ name: 'db-password', usedBy: ['reader'] });
    expect(await (await putSecret('db-password', 'hunter3')).json()).toMatchObject({ status: 'updated', rolled: ['reader'] });
    // Nowhere a value shows: the list, /info, /metrics.
    const everything = [await (await api('/secrets')).text(), await (await api('/info')).text(), await (await api('/metrics')).text()].join('\n');
    expect(everything).toContain('db-password');
    expect(everything).not.toContain('hunter');
  });

  it('refuses a bad name, an empty value and one over 64 KiB with a clear 4xx, storing nothing', async () => {
    expect(await (await putSecret('Bad_Name', 'x')).json()).toMatchObject({ code: 'INVALID_NAME', error: expect.stringContaining('not a valid secret name') });
    const empty = await putSecret('empty', '');
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringContaining('empty') });
    const big = await putSecret('big', Buffer.alloc(64 * 1024 + 1, 97));
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({ error: 'a secret value is at most 64 KiB', code: 'PAYLOAD_TOO_LARGE' });
    expect((await putSecret('edge', Buffer.alloc(64 * 1024, 97))).status).toBe(201);
    expect(((await (await api('/secrets')).json()) as { secrets: Array<{ name: string }> }).secrets.map((s) => s.name)).toEqual(['edge']);
    expect(await (await api('/secrets/ghost')).json()).toEqual({ error: 'secret "ghost" not found', code: 'SECRET_NOT_FOUND' });
    expect((await api('/secrets/ghost', { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses a deploy naming a secret that does not exist with 400 naming it, and writes nothing', async () => {
    const res = await deploy('early', { secrets: 'db-password,api-key' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'invalid spec: secrets: secrets "db-password", "api-key" do not exist; create them first with PUT /secrets/db-password',
      code: 'INVALID_INPUT',
    });
    expect((await api('/info/early')).status).toBe(404);
    expect(await (await deploy('twice', { secrets: '["a","a"]' })).json()).toMatchObject({ error: 'invalid spec: secrets: names a secret twice' });
  });

  it('keeps a secret while a function names it: 409 naming the functions, then deletes it once none does', async () => {
    await putSecret('shared', 'v');
    await deploy('one', { secrets: 'shared' });
    await deploy('two', { secrets: '["shared"]' });
    const refused = await api('/secrets/shared', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toEqual({ error: 'secret "shared" is used by "one", "two"; remove it from their spec.secrets first', code: 'SECRET_IN_USE' });
    await api('/config/one', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"secrets":[]}' });
    await api('/del/two', { method: 'DELETE' });
    expect(await (await api('/secrets/shared', { method: 'DELETE' })).json()).toEqual({ deleted: 'shared' });
  });

  it('lets a manifest name secrets; one waiting for a missing secret applies once the secret exists', async () => {
    const folder = join(dir, 'manifests', 'reader');
    await mkdir(folder);
    await writeFile(join(folder, 'index.js'), HANDLER);
    await writeFile(
      join(dir, 'manifests', 'reader.yaml'),
      'apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: reader\nspec:\n  code: ./reader\n  secrets: [db-password]\n',
    );
    type Files = Array<{ path: string; state: string; errors: Array<{ message: string }> }>;
    await vi.waitFor(async () => expect(((await (await api('/manifests')).json()) as Files)[0]).toMatchObject({ path: 'reader.yaml', state: 'invalid' }), { timeout: 5_000, interval: 20 });
    const [file] = (await (await api('/manifests')).json()) as Files;
    expect(JSON.stringify(file?.errors)).toContain('secret \\"db-password\\" does not exist');
    await putSecret('db-password', 'hunter2');
    await vi.waitFor(async () => expect(((await (await api('/manifests')).json()) as Files)[0]).toMatchObject({ state: 'applied' }), { timeout: 5_000, interval: 20 });
    expect(await (await api('/info/reader')).json()).toMatchObject({ source: 'manifest', spec: { secrets: ['db-password'] } });
  });
});
