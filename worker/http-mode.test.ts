import { Console } from 'node:console';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { startHttpWorker, type HttpWorker } from './http-mode.js';
import { withoutReservedHeaders, type InterfaceName } from './protocol.js';
import { runFunction, type FunctionUnderTest } from './testing/function-under-test.js';
import { INTERFACE_FUNCTIONS, pathFor } from './testing/interface-functions.js';

const dirs: string[] = [];
const open: Array<HttpWorker | FunctionUnderTest> = [];
const vitestConsole = globalThis.console;

beforeAll(() => {
  globalThis.console = new Console(process.stdout, process.stderr);
});

afterEach(async () => {
  for (const item of open.splice(0)) await item.close();
});

afterAll(async () => {
  globalThis.console = vitestConsole;
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glambdar-http-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

async function http(
  files: Record<string, string>,
  options: { interface?: InterfaceName; timeoutMs?: number; drainTimeoutMs?: number; revision?: number } = {},
): Promise<{ worker: HttpWorker; url: string; dir: string }> {
  const dir = await folder(files);
  const worker = await startHttpWorker(
    {
      socketPath: '/nonexistent',
      fnDir: dir,
      maxLogBytes: 65_536,
      drainTimeoutMs: options.drainTimeoutMs ?? 5000,
      stem: false,
      interface: options.interface ?? null,
      httpPort: 0,
      functionName: 'fn',
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    },
    '127.0.0.1',
  );
  open.push(worker);
  return { worker, url: `http://127.0.0.1:${worker.port}`, dir };
}

describe('worker HTTP mode', () => {
  for (const fn of INTERFACE_FUNCTIONS) {
    it(`answers what the socket mode answers, for the ${fn.interface} interface`, async () => {
      const socket = await runFunction(fn.files, { interface: fn.interface });
      open.push(socket);
      const { url } = await http(fn.files, { interface: fn.interface, revision: 3 });
      const requests = [
        { method: 'GET', path: '/a/b', query: 'x=1&y=two', body: undefined },
        { method: 'POST', path: '/echo', query: '', body: '{"n":1}' },
        { method: 'POST', path: '/throw', query: '', body: 'x' },
      ];
      for (const request of requests) {
        const target = pathFor(fn.interface, request.path, request.query);
        const q = target.indexOf('?');
        const query: Record<string, string> = {};
        for (const [k, v] of new URLSearchParams(q < 0 ? '' : target.slice(q + 1))) query[k] = v;
        const headers = { 'content-type': 'application/json' };
        const viaSocket = await socket.call({ method: request.method, path: q < 0 ? target : target.slice(0, q), query, headers, ...(request.body === undefined ? {} : { body: request.body }) });
        const res = await fetch(url + target, { method: request.method, headers, ...(request.body === undefined ? {} : { body: request.body }) });
        const text = await res.text();
        if (viaSocket.error !== null) {
          expect(res.status).toBe(500);
          expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
          expect(JSON.parse(text)).toEqual({ error: viaSocket.error, code: 'HANDLER_ERROR' });
          expect(viaSocket.error).toContain(`boom from ${fn.interface}`);
          continue;
        }
        expect(res.status).toBe(viaSocket.statusCode);
        expect(text).toBe(viaSocket.text);
        const expected = withoutReservedHeaders(viaSocket.headers);
        for (const [name, value] of Object.entries(expected)) expect(res.headers.get(name), name).toBe(Array.isArray(value) ? value.join(', ') : value);
        expect(res.headers.get('x-glambdar-forged')).toBeNull();
        // Knative and OpenFaaS answer a throw themselves (a 500 text body, not HANDLER_ERROR).
        if (request.path !== '/throw') expect(res.headers.get('x-iface')).toBe(fn.interface);
        expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
        expect(res.headers.get('x-glambdar-request-id')).toMatch(/^[0-9a-f-]{36}$/);
        expect(res.headers.get('x-glambdar-revision')).toBe('3');
      }
    });
  }

  it('answers GET /healthz itself: 200 while the function is loaded', async () => {
    const { url } = await http(INTERFACE_FUNCTIONS[0]!.files);
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });

  it('answers 500 FUNCTION_LOAD_FAILED to requests and 503 to probes when the function does not load', async () => {
    const { url, worker } = await http({ 'index.js': 'throw new Error("broken at load")' });
    expect(worker.ready).toBe(false);
    const res = await fetch(`${url}/x`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('FUNCTION_LOAD_FAILED');
    expect(body.error).toContain('broken at load');
    expect((await fetch(`${url}/healthz`)).status).toBe(503);
  });

  it('streams a body as the handler writes it: the head at once, each chunk as it comes, chunked', async () => {
    const { url } = await http({
      'index.js': `exports.handler = async () => ({ headers: { 'content-type': 'text/event-stream' }, body: (async function* () { for (let i = 1; i <= 3; i++) { yield 'data: ' + i + '\\n\\n'; await new Promise((r) => setTimeout(r, 300)); } })() });`,
    });
    const sent = Date.now();
    const res = await fetch(`${url}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('x-glambdar-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const reader = res.body!.getReader();
    const arrivals: Array<{ at: number; text: string }> = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) arrivals.push({ at: Date.now() - sent, text: Buffer.from(r.value).toString() });
    expect(arrivals.map((a) => a.text).join('')).toBe('data: 1\n\ndata: 2\n\ndata: 3\n\n');
    // The first event left before the handler had written the last (600 ms later), not with it.
    expect(arrivals[arrivals.length - 1]!.at - arrivals[0]!.at).toBeGreaterThan(400);
  });

  it('streams a fetch Response whose body is still being produced', async () => {
    const { url } = await http(
      {
        'index.mjs': `export default { fetch: () => new Response(new ReadableStream({ async start(c) { c.enqueue(new TextEncoder().encode('one ')); await new Promise((r) => setTimeout(r, 50)); c.enqueue(new TextEncoder().encode('two')); c.close(); } }), { headers: { 'x-kind': 'fetch' } }) };`,
      },
      { interface: 'fetch' },
    );
    const res = await fetch(`${url}/`);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    expect(res.headers.get('x-kind')).toBe('fetch');
    expect(await res.text()).toBe('one two');
  });

  it('cancels the handler\'s stream when the client goes away, and keeps serving', async () => {
    const { url, dir } = await http({
      'index.js': `const fs = require('fs'); const path = require('path');
exports.handler = async (req) => ({ body: new ReadableStream({
  pull(c) { if (req.path === '/fast') { c.enqueue('done'); c.close(); return; } c.enqueue('tick '); return new Promise((r) => setTimeout(r, 20)); },
  cancel() { fs.writeFileSync(path.join(__dirname, 'cancelled'), String(Date.now())); },
}) });`,
    });
    const controller = new AbortController();
    const res = await fetch(`${url}/slow`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    const leftAt = Date.now();
    controller.abort();
    let cancelledAt: number | undefined;
    for (let i = 0; i < 100 && cancelledAt === undefined; i++) {
      if (existsSync(join(dir, 'cancelled'))) cancelledAt = Number(readFileSync(join(dir, 'cancelled'), 'utf8'));
      else await new Promise((r) => setTimeout(r, 10));
    }
    expect(cancelledAt).toBeDefined();
    expect(cancelledAt! - leftAt).toBeLessThan(100);
    expect(await (await fetch(`${url}/fast`)).text()).toBe('done');
  });

  it('cuts the response off when the handler throws midway: a truncated body, not a success', async () => {
    const { url } = await http({
      'index.js': `exports.handler = async () => ({ body: (async function* () { yield 'partial '; await new Promise((r) => setTimeout(r, 20)); throw new Error('the database went away'); })() });`,
    });
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('cuts off a stream that never ends at timeoutMs, and cancels the handler\'s stream', async () => {
    const { url, dir } = await http(
      {
        'index.js': `const fs = require('fs'); const path = require('path');
exports.handler = async () => ({ body: new ReadableStream({
  pull(c) { c.enqueue('more '); return new Promise((r) => setTimeout(r, 10)); },
  cancel() { fs.writeFileSync(path.join(__dirname, 'cancelled'), 'yes'); },
}) });`,
      },
      { timeoutMs: 300 },
    );
    const started = Date.now();
    const res = await fetch(`${url}/forever`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(existsSync(join(dir, 'cancelled'))).toBe(true);
  });

  it('refuses a body over 6 MiB with 413 PAYLOAD_TOO_LARGE, as /invoke does', async () => {
    const { url } = await http(INTERFACE_FUNCTIONS[0]!.files);
    const res = await fetch(`${url}/big`, { method: 'POST', body: Buffer.alloc(6 * 1024 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'invocation body is larger than 6 MiB', code: 'PAYLOAD_TOO_LARGE' });
  });

  it('answers 504 INVOCATION_TIMEOUT past timeoutMs, with the message /invoke gives', async () => {
    const { url } = await http(INTERFACE_FUNCTIONS[0]!.files, { timeoutMs: 50 });
    const res = await fetch(`${url}/slow?ms=2000`);
    expect(res.status).toBe(504);
    expect(await res.json()).toEqual({ error: 'function "fn" did not answer within 50 ms', code: 'INVOCATION_TIMEOUT' });
  });

  it('drains on close: the request in flight gets its answer, then no connection is taken', async () => {
    const { url, worker, dir } = await http(INTERFACE_FUNCTIONS[0]!.files);
    const marker = join(dir, 'started');
    const inFlight = fetch(`${url}/slow?ms=300&marker=${encodeURIComponent(marker)}`);
    while (!existsSync(marker)) await new Promise((resolve) => setTimeout(resolve, 5));
    const closed = worker.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('slow done');
    await closed;
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});

describe('loadConfig, HTTP mode', () => {
  it('serves HTTP on GLAMBDAR_WORKER_HTTP_PORT, or on PORT when no runtime socket is set', () => {
    expect(loadConfig({ GLAMBDAR_WORKER_HTTP_PORT: '9000', GLAMBDAR_SOCKET: '/s' }).httpPort).toBe(9000);
    expect(loadConfig({ PORT: '8080', GLAMBDAR_FUNCTION: 'hello', GLAMBDAR_REVISION: '4', GLAMBDAR_TIMEOUT_MS: '1000' })).toMatchObject({
      httpPort: 8080,
      functionName: 'hello',
      revision: 4,
      timeoutMs: 1000,
    });
  });

  it('keeps a Glambdar container in socket mode even when its function sets PORT', () => {
    expect(loadConfig({ PORT: '8080', GLAMBDAR_SOCKET: '/run/glambdar/runtime.sock' }).httpPort).toBeUndefined();
  });

  it('refuses a port out of range, naming the variable', () => {
    expect(() => loadConfig({ PORT: '70000' })).toThrow(/PORT must be a port/);
    expect(() => loadConfig({ GLAMBDAR_WORKER_HTTP_PORT: 'http' })).toThrow(/GLAMBDAR_WORKER_HTTP_PORT/);
  });
});
