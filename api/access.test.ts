import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { createLogger, silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { createApp } from './app.js';
import { OPEN_ROUTES } from './guard.js';
import { PREFIX_ROUTES, startServer, type GlambdarServer } from './server.js';

/**
 * Access control end to end over HTTP, containers replaced by in-process workers: the admin
 * token on every control route, keys of private functions, and the Host and Origin checks.
 */

const HELLO = `exports.handler = async (req) => {
  const data = await req.json();
  return { statusCode: 200, body: { message: \`Hello \${data.name}!\`, authorization: req.headers.authorization ?? null } };
};`;

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let token: string;
const extra: Array<{ server: GlambdarServer; dir: string }> = [];

async function start(env: Record<string, unknown> = {}, into?: string): Promise<{ server: GlambdarServer; dir: string }> {
  const at = into ?? (await mkdtemp(join(tmpdir(), 'glb-access-')));
  const started = await startServer({
    config: RuntimeConfigSchema.parse({ dir: at, port: 0, stemCells: 0, ...env }),
    sandbox,
    log: silentLogger,
    watchManifests: false,
  });
  return { server: started, dir: at };
}

const auth = (t: string = token) => ({ authorization: `Bearer ${t}` });

async function deploy(name: string, fields: Record<string, string> = {}, headers: Record<string, string> = auth()): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': HELLO }))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers });
}

/** The README's invoke command: `curl -X POST -H "Content-Type: application/json" -d '{"name":"Glambdar"}' .../invoke/<name>`. */
function invoke(name: string, headers: Record<string, string> = {}, url = server.url): Promise<Response> {
  return fetch(`${url}/invoke/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"name":"Glambdar"}' });
}

/** A raw request, for headers fetch will not let a caller set (Host). */
function raw(options: { method?: string; path: string; headers: Record<string, string>; body?: string }, port = server.port): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Every route of the control app: method and a concrete path (parameters filled in). */
function controlRoutes(): Array<{ method: string; path: string }> {
  const app = createApp(server.runtime, silentLogger, { files: () => [] });
  const routes: Array<{ method: string; path: string }> = [];
  for (const layer of app.router.stack as Array<{ route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown } }>) {
    // A router mounted inside the app would hide its routes from this walk: extend it first.
    expect(layer.handle?.stack, 'a nested router: walk its routes too').toBeUndefined();
    if (!layer.route) continue;
    const path = layer.route.path.replace(/\{?\*\w+\}?/g, 'any').replace(/:(\w+)/g, 'p-$1');
    for (const method of Object.keys(layer.route.methods)) if (method !== '_all') routes.push({ method: method.toUpperCase(), path });
  }
  return routes;
}

beforeEach(async () => {
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  ({ server, dir } = await start());
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
});

afterEach(async () => {
  for (const e of extra.splice(0)) {
    await e.server.close(500);
    await rm(e.dir, { recursive: true, force: true });
  }
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('the admin token', () => {
  it('is made on first start in admin-token, readable by the runtime user only', async () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(dir, 'admin-token'))).mode & 0o777).toBe(0o600);
  });

  it('guards every control route: 401 UNAUTHORIZED with WWW-Authenticate without it or with a wrong one; only GET /healthz and the dashboard shell and assets are open', async () => {
    const routes = controlRoutes();
    expect([...OPEN_ROUTES].sort()).toEqual(['GET /healthz', 'GET /ui', 'GET /ui/', 'GET /ui/app.css', 'GET /ui/app.js', 'GET /ui/favicon.svg']);
    // The walk sees the routes there are (a route added later is walked too).
    for (const known of ['POST /deploy', 'POST /config/p-name', 'GET /info', 'GET /logs/p-name', 'DELETE /del/p-name', 'GET /manifests', 'GET /metrics', 'POST /keys/p-name', 'PUT /secrets/p-secret']) {
      expect(routes.map((r) => `${r.method} ${r.path}`)).toContain(known);
    }
    for (const { method, path } of routes) {
      const what = `${method} ${path}`;
      if (OPEN_ROUTES.has(what)) {
        expect((await fetch(`${server.url}${path}`)).status, what).toBe(200);
        continue;
      }
      for (const headers of [{}, auth('wrong-token-0123456789'), { authorization: token }, auth(`${token}x`)]) {
        const res = await fetch(`${server.url}${path}`, { method, headers });
        expect(res.status, what).toBe(401);
        expect(res.headers.get('www-authenticate'), what).toBe('Bearer realm="glambdar"');
        expect(await res.json(), what).toMatchObject({ code: 'UNAUTHORIZED', error: expect.stringContaining('Authorization: Bearer') });
      }
      expect((await fetch(`${server.url}${path}`, { method, headers: auth() })).status, what).not.toBe(401);
    }
    // A path no route serves asks for the token before it says there is no such route.
    expect((await fetch(`${server.url}/no/such/route`)).status).toBe(401);
    expect((await fetch(`${server.url}/no/such/route`, { headers: auth() })).status).toBe(404);
  });

  it('guards every path served ahead of express for private functions, and leaves public ones open', async () => {
    expect((await deploy('locked', { auth: 'key' })).status).toBe(201);
    expect((await deploy('open')).status).toBe(201);
    expect(PREFIX_ROUTES.length).toBeGreaterThan(0);
    for (const { prefix } of PREFIX_ROUTES) {
      const res = await fetch(`${server.url}${prefix}locked`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status, prefix).toBe(401);
      expect(res.headers.get('www-authenticate'), prefix).toBe('Bearer realm="glambdar"');
      const open = await fetch(`${server.url}${prefix}open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(open.status, prefix).toBeLessThan(300);
    }
  });

  it('leaves the quick start unchanged for public functions: the seed invoke command needs no header', async () => {
    expect(await (await deploy('myfunc', { rateLimit: '100' })).json()).toEqual({ function: 'myfunc', status: 'deployed', generation: 1 });
    const res = await invoke('myfunc');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: 'Hello Glambdar!', authorization: null });
  });

  it('never reaches a function: withheld from public functions, where any other Authorization header passes', async () => {
    await deploy('open');
    expect(await (await invoke('open', auth())).json()).toMatchObject({ authorization: null });
    expect(await (await invoke('open', { authorization: 'Bearer its-own-scheme' })).json()).toMatchObject({ authorization: 'Bearer its-own-scheme' });
  });

  it('with GLAMBDAR_AUTH=none, control routes are open (loopback only, with a warning at start), private functions still take only keys', async () => {
    const lines: string[] = [];
    const at = await mkdtemp(join(tmpdir(), 'glb-access-'));
    const other = {
      dir: at,
      server: await startServer({
        config: RuntimeConfigSchema.parse({ dir: at, port: 0, stemCells: 0, auth: 'none' }),
        sandbox,
        log: createLogger('warn', (line) => lines.push(line)),
        watchManifests: false,
      }),
    };
    extra.push(other);
    expect(lines.some((l) => / warn GLAMBDAR_AUTH=none: the control API takes requests without the admin token/.test(l))).toBe(true);
    expect((await fetch(`${other.server.url}/info`)).status).toBe(200);
    const form = new FormData();
    form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': HELLO }))]), 'locked.zip');
    form.set('auth', 'key');
    expect((await fetch(`${other.server.url}/deploy`, { method: 'POST', body: form })).status).toBe(201);
    expect((await invoke('locked', {}, other.server.url)).status).toBe(401);
  });

  it('can be given in GLAMBDAR_ADMIN_TOKEN instead of the file', async () => {
    const other = await start({ adminToken: 'a-token-of-my-own-choosing' });
    extra.push(other);
    expect((await fetch(`${other.server.url}/info`, { headers: auth('a-token-of-my-own-choosing') })).status).toBe(200);
    expect((await fetch(`${other.server.url}/info`, { headers: auth() })).status).toBe(401);
  });
});

describe('private functions', () => {
  it('answer 401 without a key, 200 with their key or the admin token, 403 with a key of another function, 401 after revocation', async () => {
    await deploy('private', { auth: 'key' });
    await deploy('other', { auth: 'key' });
    const made = await fetch(`${server.url}/keys/private`, { method: 'POST', headers: auth() });
    expect(made.status).toBe(201);
    const key = (await made.json()) as { id: string; key: string; function: string; createdAt: string; lastUsedAt: null };
    expect(key).toMatchObject({ function: 'private', id: expect.stringMatching(/^[0-9a-f]{12}$/), key: expect.stringMatching(/^gk_/), lastUsedAt: null });
    const otherKey = (await (await fetch(`${server.url}/keys/other`, { method: 'POST', headers: auth() })).json()) as { key: string };

    const missing = await invoke('private');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="glambdar"');
    expect(await missing.json()).toEqual({
      error: 'function "private" is private: send "Authorization: Bearer <key>" with one of its keys (POST /keys/private makes one)',
      code: 'UNAUTHORIZED',
    });
    expect((await invoke('private', auth('gk_000000000000_wrong'))).status).toBe(401);
    // With its key: the function answers, and does not see the key.
    const ok = await invoke('private', auth(key.key));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ message: 'Hello Glambdar!', authorization: null });
    expect((await invoke('private', auth())).status).toBe(200);
    const foreign = await invoke('private', auth(otherKey.key));
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ code: 'FORBIDDEN' });

    const listed = (await (await fetch(`${server.url}/keys/private`, { headers: auth() })).json()) as { count: number; keys: Array<Record<string, unknown>> };
    expect(listed).toMatchObject({ function: 'private', count: 1, keys: [{ id: key.id, createdAt: key.createdAt, lastUsedAt: expect.any(String) }] });
    expect(JSON.stringify(listed)).not.toContain(key.key);

    expect(await (await fetch(`${server.url}/keys/private/nope`, { method: 'DELETE', headers: auth() })).json()).toMatchObject({ code: 'KEY_NOT_FOUND' });
    // A key is revoked only through its own function.
    expect((await fetch(`${server.url}/keys/other/${key.id}`, { method: 'DELETE', headers: auth() })).status).toBe(404);
    const revoked = await fetch(`${server.url}/keys/private/${key.id}`, { method: 'DELETE', headers: auth() });
    expect(await revoked.json()).toEqual({ function: 'private', revoked: key.id });
    expect((await invoke('private', auth(key.key))).status).toBe(401);
  });

  it('take async invocations only with a key too, which the queued job does not keep', async () => {
    await deploy('private', { auth: 'key' });
    const { key } = (await (await fetch(`${server.url}/keys/private`, { method: 'POST', headers: auth() })).json()) as { key: string };
    const refused = await fetch(`${server.url}/async/private`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"later"}' });
    expect(refused.status).toBe(401);
    expect(await (await fetch(`${server.url}/invocations?function=private`, { headers: auth() })).json()).toEqual([]);
    const queued = await fetch(`${server.url}/async/private`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth(key) }, body: '{"name":"later"}' });
    expect(queued.status).toBe(202);
    const { requestId } = (await queued.json()) as { requestId: string };
    let job: { status: string; response: { body: string } | null } | undefined;
    await vi.waitFor(
      async () => {
        job = (await (await fetch(`${server.url}/invocations/${requestId}`, { headers: auth() })).json()) as typeof job;
        expect(job?.status).toBe('succeeded');
      },
      { timeout: 8_000, interval: 20 },
    );
    expect(JSON.parse(job!.response!.body)).toEqual({ message: 'Hello later!', authorization: null });
    expect(JSON.stringify(job)).not.toContain(key);
  });

  it('refuses keys for a function that does not exist or was deleted, and a deleted function takes its keys with it', async () => {
    expect(await (await fetch(`${server.url}/keys/ghost`, { method: 'POST', headers: auth() })).json()).toEqual({ error: 'function "ghost" not found', code: 'FUNCTION_NOT_FOUND' });
    expect((await fetch(`${server.url}/keys/Bad_Name`, { method: 'POST', headers: auth() })).status).toBe(400);
    await deploy('private', { auth: 'key' });
    const { key } = (await (await fetch(`${server.url}/keys/private`, { method: 'POST', headers: auth() })).json()) as { key: string };
    expect((await fetch(`${server.url}/del/private`, { method: 'DELETE', headers: auth() })).status).toBe(200);
    expect((await fetch(`${server.url}/keys/private`, { headers: auth() })).status).toBe(404);
    await deploy('private', { auth: 'key' });
    expect(await (await fetch(`${server.url}/keys/private`, { headers: auth() })).json()).toMatchObject({ count: 0 });
    expect((await invoke('private', auth(key))).status).toBe(401);
  });

  it('turn public again with auth=none, and refuse an auth mode that does not exist', async () => {
    await deploy('switch', { auth: 'key' });
    expect((await invoke('switch')).status).toBe(401);
    const bad = await fetch(`${server.url}/config/switch`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"auth":"password"}' });
    expect(await bad.json()).toEqual({ error: 'invalid config: auth: must be one of: none, key', code: 'INVALID_INPUT' });
    await fetch(`${server.url}/config/switch`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{"auth":"none"}' });
    expect((await invoke('switch')).status).toBe(200);
  });
});

describe('Host and Origin checks on control routes', () => {
  const deployBody = '--b\r\nContent-Disposition: form-data; name="file"; filename="evil.zip"\r\n\r\nPK\r\n--b--\r\n';
  const multipart = { 'content-type': 'multipart/form-data; boundary=b' };

  it('refuse a deploy from a page of another site, or through a rebinding host name, even with the token, before anything runs', async () => {
    const fromPage = await raw({ method: 'POST', path: '/deploy', headers: { ...auth(), ...multipart, origin: 'http://evil.example' }, body: deployBody });
    expect(fromPage.status).toBe(403);
    expect(JSON.parse(fromPage.body)).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
    expect(fromPage.headers['access-control-allow-origin']).toBeUndefined();
    const rebound = await raw({ method: 'POST', path: '/deploy', headers: { ...auth(), ...multipart, host: 'evil.example:8000' }, body: deployBody });
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'HOST_NOT_ALLOWED' });
    const crossSite = await raw({ method: 'POST', path: '/deploy', headers: { ...auth(), ...multipart, 'sec-fetch-site': 'cross-site' }, body: deployBody });
    expect(crossSite.status).toBe(403);
    // The token was not even looked at: without it, the same answers.
    expect((await raw({ path: '/info', headers: { host: 'evil.example:8000' } })).status).toBe(421);
    expect((await raw({ path: '/info', headers: { origin: 'null' } })).status).toBe(403);
    expect(await (await fetch(`${server.url}/info`, { headers: auth() })).json()).toMatchObject({ count: 0, functions: [] });
    expect(sandbox.starts).toBe(0);
  });

  it('answer this machine\'s names, addresses and same-origin pages (the dashboard), and names listed in GLAMBDAR_ALLOWED_HOSTS', async () => {
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`, '10.1.2.3:8000', 'LOCALHOST']) {
      expect((await raw({ path: '/info', headers: { ...auth(), host } })).status, host).toBe(200);
    }
    const page = await raw({ path: '/info', headers: { ...auth(), origin: `http://127.0.0.1:${server.port}`, 'sec-fetch-site': 'same-origin' } });
    expect(page.status).toBe(200);
    expect(page.headers['access-control-allow-origin']).toBeUndefined();
    expect((await raw({ path: '/info', headers: { ...auth(), host: 'glambdar.internal:8000' } })).status).toBe(421);
    const other = await start({ allowedHosts: 'glambdar.internal' });
    extra.push(other);
    const otherToken = (await readFile(join(other.dir, 'admin-token'), 'utf8')).trim();
    expect((await raw({ path: '/info', headers: { ...auth(otherToken), host: 'glambdar.internal:8000' } }, other.server.port)).status).toBe(200);
  });

  it('send CORS headers only to origins listed in GLAMBDAR_CORS_ORIGINS, whose preflights are answered without the token', async () => {
    const other = await start({ corsOrigins: 'https://dash.example.com' });
    extra.push(other);
    const otherToken = (await readFile(join(other.dir, 'admin-token'), 'utf8')).trim();
    const preflight = await raw(
      { method: 'OPTIONS', path: '/deploy', headers: { origin: 'https://dash.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } },
      other.server.port,
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': 'https://dash.example.com',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-allow-methods': 'GET, POST, PUT, DELETE',
    });
    const listed = await raw({ path: '/info', headers: { ...auth(otherToken), origin: 'https://dash.example.com', 'sec-fetch-site': 'cross-site' } }, other.server.port);
    expect(listed.status).toBe(200);
    expect(listed.headers['access-control-allow-origin']).toBe('https://dash.example.com');
    // Listed or not, the token is still needed.
    expect((await raw({ path: '/info', headers: { origin: 'https://dash.example.com' } }, other.server.port)).status).toBe(401);
    const unlisted = await raw({ path: '/info', headers: { ...auth(otherToken), origin: 'https://other.example.com' } }, other.server.port);
    expect(unlisted.status).toBe(403);
    expect(unlisted.headers['access-control-allow-origin']).toBeUndefined();
  });
});
