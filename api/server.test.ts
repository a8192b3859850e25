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
 * The HTTP contract end to end, with containers replaced by in-process workers (FakeSandbox):
 * everything but Docker is real, so these run in the plain `npm test`.
 */

const ECHO = `exports.handler = async (req) => {
  if (req.path === '/slow') await new Promise((r) => setTimeout(r, 2000));
  if (req.path === '/throw') throw new Error('thrown on purpose');
  if (req.path === '/text') return { statusCode: 202, headers: { 'x-kind': 'text' }, body: 'plain words' };
  if (req.path === '/query-keys') return { keys: Object.keys(req.query), plain: Object.getPrototypeOf(req.query) === Object.prototype, proto: Object.getOwnPropertyDescriptor(req.query, '__proto__')?.value ?? null };
  console.log('echo', req.method, req.path);
  return { method: req.method, path: req.path, query: req.query, received: req.body, ua: req.headers['user-agent'] };
};`;

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let token: string;

async function deploy(name: string, files: Record<string, string> | Buffer, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  const bytes = Buffer.isBuffer(files) ? files : await makeZip(files);
  form.set('file', new Blob([new Uint8Array(bytes)]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return control(`/deploy`, { method: 'POST', body: form });
}

/** A control-route request as a client with the admin token sends it (the token the runtime wrote to its data folder). */
function control(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

// Handlers run in this process here; vitest's console would not reach process.stdout,
// which is what the worker captures (a container has Node's own console).
const vitestConsole = globalThis.console;
beforeAll(() => {
  globalThis.console = new Console(process.stdout, process.stderr);
});
afterAll(() => {
  globalThis.console = vitestConsole;
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-api-'));
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

describe('the HTTP API', () => {
  it('passes method, path, query, headers and raw body to the handler and returns its JSON', async () => {
    expect((await deploy('echo', { 'index.js': ECHO })).status).toBe(201);
    const res = await fetch(`${server.url}/invoke/echo/some/path?a=1&a=2&b=x`, {
      method: 'PUT',
      headers: { 'user-agent': 'glambdar-test' },
      body: 'raw body',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-glambdar-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.json()).toEqual({ method: 'PUT', path: '/some/path', query: { a: ['1', '2'], b: 'x' }, received: 'raw body', ua: 'glambdar-test' });
  });

  it('passes a query parameter named __proto__ as a parameter like any other, not as the query object\'s prototype', async () => {
    expect((await deploy('echo', { 'index.js': ECHO })).status).toBe(201);
    for (const [search, proto] of [['__proto__=a&__proto__=b&x=1', ['a', 'b']], ['__proto__=a&x=1', 'a']] as const) {
      const res = await fetch(`${server.url}/invoke/echo/query-keys?${search}`);
      expect(await res.json(), search).toEqual({ keys: ['__proto__', 'x'], plain: true, proto });
    }
  });

  it("returns the handler's status, headers and a text body as text", async () => {
    await deploy('echo', { 'index.js': ECHO });
    const res = await fetch(`${server.url}/invoke/echo/text`);
    expect(res.status).toBe(202);
    expect(res.headers.get('x-kind')).toBe('text');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('plain words');
  });

  it('fails to start on a port in use and leaves no container behind', async () => {
    const other = new FakeSandbox({ drainTimeoutMs: 50 });
    const otherDir = await mkdtemp(join(tmpdir(), 'glb-api-busy-'));
    try {
      const starting = startServer({
        config: RuntimeConfigSchema.parse({ dir: otherDir, port: server.port, stemCells: 1 }),
        sandbox: other,
        log: silentLogger,
        watchManifests: false,
      });
      await expect(starting).rejects.toMatchObject({
        code: 'EADDRINUSE',
        message: `port ${server.port} is in use (GLAMBDAR_PORT); stop what listens there, or set GLAMBDAR_PORT to another port`,
      });
      // The port is taken before anything starts: no stem cell was ever started.
      expect(other.starts).toBe(0);
      expect(other.containers.size).toBe(0);
    } finally {
      await other.closeAll();
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('answers 413 JSON for an invocation body over 6 MiB', async () => {
    await deploy('echo', { 'index.js': ECHO });
    const res = await fetch(`${server.url}/invoke/echo`, { method: 'POST', body: Buffer.alloc(6 * 1024 * 1024 + 1, 97) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it('answers 413 JSON for an upload over 50 MiB and stores nothing', async () => {
    const res = await deploy('huge', Buffer.alloc(50 * 1024 * 1024 + 10, 1));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect((await control(`/info/huge`)).status).toBe(404);
  });

  it('refuses bad deploys with 400 naming what was wrong, and never a host path', async () => {
    const noFile = await control(`/deploy`, { method: 'POST', body: new FormData() });
    expect(noFile.status).toBe(400);
    expect(await noFile.json()).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringContaining('"file"') });

    const badField = await deploy('echo', { 'index.js': ECHO }, { rateLimit: 'lots' });
    expect(badField.status).toBe(400);
    const badFieldBody = (await badField.json()) as { error: string };
    expect(badFieldBody.error).toMatch(/rateLimit/);

    const unknown = await deploy('echo', { 'index.js': ECHO }, { replicas: '3' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/unknown field: replicas/);

    const noIndex = await deploy('echo', { 'lib/util.js': '' });
    expect(noIndex.status).toBe(400);
    const noIndexBody = (await noIndex.json()) as { error: string };
    expect(noIndexBody.error).toMatch(/index\.js/);
    for (const body of [badFieldBody.error, noIndexBody.error]) expect(body).not.toContain(dir);
    expect((await control(`/info`)).status).toBe(200);
    expect(((await (await control(`/info`)).json()) as { count: number }).count).toBe(0);
  });

  it('treats a redeploy as an update with a new generation only when the code changed', async () => {
    await deploy('echo', { 'index.js': ECHO, 'README.md': 'echo' });
    // The same files zipped again in another order: other bytes, same code.
    const same = await deploy('echo', { 'README.md': 'echo', 'index.js': ECHO });
    expect(same.status).toBe(200);
    expect(await same.json()).toEqual({ function: 'echo', status: 'updated', generation: 1 });
    const changed = await deploy('echo', { 'index.js': ECHO + '\n// v2', 'README.md': 'echo' });
    expect(await changed.json()).toEqual({ function: 'echo', status: 'updated', generation: 2 });
  });

  it('keeps settings made through /config across an API redeploy', async () => {
    await deploy('echo', { 'index.js': ECHO });
    const config = await control(`/config/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rateLimit: 7 }),
    });
    expect(await config.json()).toMatchObject({ function: 'echo', status: 'updated', generation: 2, rateLimit: 7 });
    await deploy('echo', { 'index.js': ECHO + '\n// v2' });
    const info = (await (await control(`/info/echo`)).json()) as { rateLimit: number; generation: number };
    expect(info).toMatchObject({ rateLimit: 7, generation: 3 });
  });

  it('refuses a /config body that is not a JSON object of known fields', async () => {
    await deploy('echo', { 'index.js': ECHO });
    const post = (body: string) => control(`/config/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(await (await post('[1]')).json()).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await (await post('{not json')).json()).toMatchObject({ code: 'INVALID_INPUT', error: 'request body is not valid JSON' });
    expect(await (await post('{"maxConcurrency":0}')).json()).toMatchObject({ code: 'INVALID_INPUT', error: expect.stringMatching(/maxConcurrency/) });
    expect((await control(`/config/ghost`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(404);
  });

  it('answers 504 past timeoutMs and replaces the blocked container', async () => {
    await deploy('echo', { 'index.js': ECHO }, { timeoutMs: '200' });
    await fetch(`${server.url}/invoke/echo`);
    const before = [...sandbox.containers.keys()];
    const res = await fetch(`${server.url}/invoke/echo/slow`);
    expect(res.status).toBe(504);
    expect(await res.json()).toEqual({ error: 'function "echo" did not answer within 200 ms', code: 'INVOCATION_TIMEOUT' });
    expect(sandbox.removed).toEqual(before);
    expect((await fetch(`${server.url}/invoke/echo`)).status).toBe(200);
  });

  it('answers 500 FUNCTION_LOAD_FAILED for code that throws at load, and lists its container as not ready', async () => {
    await deploy('broken', { 'index.js': "throw new Error('broken at load');\n" });
    const res = await fetch(`${server.url}/invoke/broken`);
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: 'FUNCTION_LOAD_FAILED' });
    const info = (await (await control(`/info/broken`)).json()) as { status: { replicas: number; readyReplicas: number } };
    expect(info.status).toMatchObject({ replicas: 1, readyReplicas: 0 });
    const table = await (await control(`/info?format=table`)).text();
    expect(table.trimEnd().split('\n')[1]?.split(/\s+/).slice(0, 2)).toEqual(['broken', '0/1']);
  });

  it('answers 400 for an invalid name and 404 for unknown functions and routes', async () => {
    expect(await (await fetch(`${server.url}/invoke/Not_A_Label`)).json()).toMatchObject({ code: 'INVALID_NAME' });
    expect(await (await fetch(`${server.url}/invoke/ghost`)).json()).toEqual({ error: 'function "ghost" not found', code: 'FUNCTION_NOT_FOUND' });
    expect((await control(`/logs/ghost`)).status).toBe(404);
    expect((await control(`/del/ghost`, { method: 'DELETE' })).status).toBe(404);
    expect(await (await control(`/nothing`)).json()).toEqual({ error: 'no route GET /nothing; GET / lists the routes', code: 'ROUTE_NOT_FOUND' });
  });

  it('shows functions as a kubectl-like table and as Prometheus metrics', async () => {
    await deploy('echo', { 'index.js': ECHO }, { rateLimit: '3' });
    expect((await fetch(`${server.url}/invoke/echo`)).status).toBe(200);
    expect((await fetch(`${server.url}/invoke/echo/throw`)).status).toBe(500);
    // The reconciler writes status on its own time: read both forms once it has settled.
    await vi.waitFor(async () => expect(await (await control(`/info/echo`)).json()).toMatchObject({ status: { phase: 'Ready' } }), {
      timeout: 5_000,
      interval: 10,
    });
    const table = await (await control(`/info?format=table`)).text();
    const [header, row] = table.trimEnd().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'READY', 'MIN', 'RATE-LIMIT', 'SCHEDULE', 'GENERATION', 'TRAFFIC', 'INTERFACE', 'SOURCE', 'STATUS', 'REASON', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 11)).toEqual(['echo', '1/1', '0', '3/s', '<none>', '1/1', '1:100%', 'glambdar', 'api', 'Ready', '-']);
    const plain = await control(`/info`, { headers: { accept: 'text/plain' } });
    // The same table, but for AGE, which may have ticked over a second in between.
    const withoutAge = (text: string) => text.trimEnd().split('\n').map((line) => line.replace(/\s+\S+$/, ''));
    expect(withoutAge(await plain.text())).toEqual(withoutAge(table));
    const metrics = await (await control(`/metrics`)).text();
    expect(metrics).toMatch(/^glambdar_functions 1$/m);
    expect(metrics).toMatch(/^glambdar_invocations_total\{function="echo"\} 2$/m);
    expect(metrics).toMatch(/^# TYPE glambdar_invocation_responses_total counter$/m);
    expect(metrics).toMatch(/^glambdar_invocation_responses_total\{function="echo",revision="1",code="200"\} 1$/m);
    expect(metrics).toMatch(/^glambdar_invocation_responses_total\{function="echo",revision="1",code="500"\} 1$/m);
    expect(metrics).toMatch(/^glambdar_cold_starts_total\{function="echo",revision="1"\} 1$/m);
    expect(metrics).toMatch(/^glambdar_traffic_percent\{function="echo",revision="1"\} 100$/m);
    expect(metrics).toMatch(/^# TYPE glambdar_invocation_duration_seconds histogram$/m);
    const buckets = [...metrics.matchAll(/^glambdar_invocation_duration_seconds_bucket\{function="echo",revision="1",le="([^"]+)"\} (\d+)$/gm)];
    expect(buckets.map((m) => m[1])).toEqual(['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
    const counts = buckets.map((m) => Number(m[2]));
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(2);
    expect(metrics).toMatch(/^glambdar_invocation_duration_seconds_count\{function="echo",revision="1"\} 2$/m);
    const sum = /^glambdar_invocation_duration_seconds_sum\{function="echo",revision="1"\} (\S+)$/m.exec(metrics);
    expect(Number(sum?.[1])).toBeGreaterThan(0);
    // The runtime process itself, under the names stock Node.js dashboards read.
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(Math.abs(value('process_start_time_seconds') - (Date.now() / 1000 - process.uptime()))).toBeLessThan(5);
    // A deleted function's series go with it.
    await control(`/del/echo`, { method: 'DELETE' });
    expect(await (await control(`/metrics`)).text()).not.toContain('function="echo"');
  });

  it('serves logs newest first with limit and since, and deletes them with the function', async () => {
    await deploy('echo', { 'index.js': ECHO });
    for (const path of ['/one', '/two', '/three']) await fetch(`${server.url}/invoke/echo${path}`);
    const logs = (await (await control(`/logs/echo?limit=2`)).json()) as Array<{ stdout: string; statusCode: number }>;
    expect(logs.map((l) => l.stdout)).toEqual(['echo GET /three\n', 'echo GET /two\n']);
    expect((await control(`/logs/echo?limit=zero`)).status).toBe(400);
    const future = (await (await control(`/logs/echo?since=${Date.now() + 60_000}`)).json()) as unknown[];
    expect(future).toEqual([]);
    expect(await (await control(`/del/echo`, { method: 'DELETE' })).json()).toEqual({ deleted: 'echo' });
    expect((await control(`/logs/echo`)).status).toBe(404);
    expect(sandbox.containers.size).toBe(0);
  });

  /** Opens `GET /logs/echo?follow=1<query>`; `until` reads until a text arrived, `stdouts` ends it. */
  async function follow(query: string) {
    const abort = new AbortController();
    const res = await control(`/logs/echo?follow=1${query}`, { signal: abort.signal });
    const reader = res.body!.getReader();
    let text = '';
    return {
      res,
      async until(needle: string): Promise<void> {
        while (!text.includes(needle)) {
          const { value, done } = await reader.read();
          if (done) throw new Error('stream ended');
          text += Buffer.from(value).toString();
        }
      },
      stdouts(): string[] {
        abort.abort();
        return text
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { stdout: string }).stdout);
      },
    };
  }

  it('streams new log records as NDJSON in follow mode', async () => {
    await deploy('echo', { 'index.js': ECHO });
    await fetch(`${server.url}/invoke/echo/before`);
    const stream = await follow('');
    expect(stream.res.headers.get('content-type')).toBe('application/x-ndjson');
    await stream.until('/before');
    await fetch(`${server.url}/invoke/echo/after`);
    await stream.until('/after');
    expect(stream.stdouts()).toEqual(['echo GET /before\n', 'echo GET /after\n']);
  });

  it('follows from the newest `limit` records, like kubectl logs -f --tail', async () => {
    await deploy('echo', { 'index.js': ECHO });
    for (const path of ['one', 'two', 'three']) await fetch(`${server.url}/invoke/echo/${path}`);
    const stream = await follow('&limit=1');
    await stream.until('/three');
    await fetch(`${server.url}/invoke/echo/four`);
    await stream.until('/four');
    expect(stream.stdouts()).toEqual(['echo GET /three\n', 'echo GET /four\n']);
  });

  it('answers 503 JSON with Retry-After while the container engine is unreachable', async () => {
    await deploy('echo', { 'index.js': ECHO });
    sandbox.down = true;
    const res = await fetch(`${server.url}/invoke/echo`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ code: 'SANDBOX_UNAVAILABLE', error: expect.stringMatching(/Docker engine is not reachable/) });
    sandbox.down = false;
    expect((await fetch(`${server.url}/invoke/echo`)).status).toBe(200);
  });
});
