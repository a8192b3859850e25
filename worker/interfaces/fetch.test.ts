import { afterEach, describe, expect, it, vi } from 'vitest';
import { runFunction, type FunctionUnderTest } from '../testing/function-under-test.js';
import { fetchRequest, fetchResponse } from './fetch.js';

const running: FunctionUnderTest[] = [];
afterEach(async () => {
  for (const fn of running.splice(0)) await fn.close();
});

async function fetchStyle(files: Record<string, string>): Promise<FunctionUnderTest> {
  const fn = await runFunction(files);
  running.push(fn);
  return fn;
}

// A Worker as Cloudflare's docs write one.
const WORKER = `export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (request.method === 'POST') {
      const data = await request.json();
      return Response.json({ got: data, path: url.pathname, greeting: env.GREETING ?? null }, { status: 201 });
    }
    const headers = new Headers({ 'content-type': 'text/plain' });
    headers.append('set-cookie', 'a=1; Path=/');
    headers.append('set-cookie', 'b=2');
    return new Response('hello ' + url.searchParams.get('name'), { headers });
  },
};
`;

describe('fetch interface', () => {
  it('is detected from a default export with fetch, and runs a Cloudflare-style Worker', async () => {
    process.env['GREETING'] = 'hi';
    const fn = await fetchStyle({ 'index.mjs': WORKER });
    delete process.env['GREETING'];
    expect(fn.hello.interface).toBe('fetch');
    const posted = await fn.call({ method: 'POST', path: '/items', headers: { host: 'fn.local', 'content-type': 'application/json' }, body: '{"n":3}' });
    expect(posted.statusCode).toBe(201);
    expect(JSON.parse(posted.text)).toEqual({ got: { n: 3 }, path: '/items', greeting: 'hi' });
    const got = await fn.call({ query: { name: 'ada' } });
    expect(got).toMatchObject({ statusCode: 200, text: 'hello ada', headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1; Path=/', 'b=2'] } });
  });

  it('runs a Netlify-style default function with its context', async () => {
    const fn = await fetchStyle({
      'index.mjs': `export default async (req, context) => new Response(await req.text() + ' ' + context.requestId, { status: 202 });`,
    });
    expect(await fn.call({ method: 'PUT', body: 'raw text' })).toMatchObject({ statusCode: 202, text: 'raw text request-1' });
  });

  it('fails the invocation when the handler returns something other than a Response', async () => {
    const fn = await fetchStyle({ 'index.mjs': `export default { fetch: () => ({ status: 200 }) };` });
    const answer = await fn.call();
    expect(answer.statusCode).toBe(500);
    expect(answer.error).toMatch(/returned an object \(Object\), not a Response/);
  });

  it('makes the worker drain wait for what ctx.waitUntil was given, and sends what that work printed before it closes', async () => {
    const fn = await fetchStyle({
      'index.mjs': `export default { fetch(request, env, ctx) {
        ctx.waitUntil(new Promise((resolve) => setTimeout(() => { globalThis.glambdarWaitedUntil = true; console.log('late work done'); resolve(); }, 50)));
        return new Response('sent');
      } };`,
    });
    expect(await fn.call()).toMatchObject({ statusCode: 200, text: 'sent' });
    expect(Reflect.get(globalThis, 'glambdarWaitedUntil')).toBeUndefined();
    await fn.worker.close();
    expect(Reflect.get(globalThis, 'glambdarWaitedUntil')).toBe(true);
    // Its output goes out as container output ahead of the connection's end, not lost with it.
    await vi.waitFor(() => expect(fn.frames().some((f) => (f.header as { t: string; text?: string }).t === 'output' && (f.header as { text: string }).text === 'late work done\n')).toBe(true), { timeout: 2_000, interval: 5 });
    Reflect.deleteProperty(globalThis, 'glambdarWaitedUntil');
  });

  it('builds the Request from the invocation: URL, repeated headers, no body on GET', async () => {
    const request = fetchRequest(
      { t: 'invoke', id: 1, method: 'GET', path: '/a/b', query: { x: ['1', '2'] }, headers: { host: 'h.example', 'x-list': ['p', 'q'] }, requestId: 'r', timeoutMs: 1 },
      Buffer.from('ignored'),
    );
    expect(request.url).toBe('http://h.example/a/b?x=1&x=2');
    expect(request.headers.get('x-list')).toBe('p, q');
    expect(request.body).toBeNull();
    const response = await fetchResponse(new Response(new Uint8Array([7, 8]), { status: 418, headers: { 'X-A': 'b' } }));
    expect(response).toEqual({ statusCode: 418, headers: { 'x-a': 'b' }, body: Buffer.from([7, 8]) });
  });
});
