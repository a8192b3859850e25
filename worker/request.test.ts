import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { createRequest, isInvalidJsonBody, normalizeResponse } from './request.js';

const head = { method: 'POST', path: '/x', query: { a: '1' }, headers: { 'content-type': 'application/json' } };

describe('createRequest', () => {
  it('exposes method, path, query, headers and the body as UTF-8 text', () => {
    const req = createRequest(head, Buffer.from('héllo'));
    expect(req).toMatchObject({ ...head, body: 'héllo' });
    expect(req.rawBody.toString()).toBe('héllo');
  });

  it('parses the body with json()', async () => {
    expect(await createRequest(head, Buffer.from('{"n":1}')).json()).toEqual({ n: 1 });
  });

  it('resolves json() of an empty body to null, so `data?.name` and `?? {}` work', async () => {
    expect(await createRequest(head, Buffer.alloc(0)).json()).toBeNull();
    expect(await createRequest(head, Buffer.from(' \n')).json()).toBeNull();
  });

  it('rejects json() of an invalid body with a SyntaxError that says so, marked as the caller\'s mistake', async () => {
    const err: unknown = await createRequest(head, Buffer.from('{nope')).json().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyntaxError);
    expect((err as Error).message).toMatch(/^request body is not valid JSON: /);
    expect(isInvalidJsonBody(err)).toBe(true);
    expect(isInvalidJsonBody(new SyntaxError('request body is not valid JSON'))).toBe(false);
  });

  it('keeps json() working when destructured and body when spread', async () => {
    const req = createRequest(head, Buffer.from('[1]'));
    const { json } = req;
    expect(await json()).toEqual([1]);
    expect({ ...req }.body).toBe('[1]');
  });
});

describe('normalizeResponse', () => {
  it('treats an object with statusCode, headers or body as the response shape', () => {
    expect(normalizeResponse({ statusCode: 201, headers: { 'X-A': 'b' }, body: 'made' })).toEqual({
      statusCode: 201,
      headers: { 'x-a': 'b', 'content-type': 'text/plain; charset=utf-8' },
      body: Buffer.from('made'),
    });
    expect(normalizeResponse({ statusCode: 204 })).toEqual({ statusCode: 204, headers: {}, body: Buffer.alloc(0) });
    expect(normalizeResponse({ headers: { a: '1' } }).statusCode).toBe(200);
  });

  it('sends any other value as a 200 body', () => {
    const res = normalizeResponse({ greeting: 'hi' });
    expect(res.statusCode).toBe(200);
    expect(res.headers).toEqual({ 'content-type': 'application/json' });
    expect(res.body.toString()).toBe('{"greeting":"hi"}');
    expect(normalizeResponse([1, 2]).body.toString()).toBe('[1,2]');
    expect(normalizeResponse(42).body.toString()).toBe('42');
    expect(normalizeResponse(false).body.toString()).toBe('false');
  });

  it('keeps a header named __proto__ as a header, and gives no inherited names to whoever lists the headers', () => {
    const res = normalizeResponse({ headers: JSON.parse('{"__proto__": ["a", "b"], "X-Y": "z"}') as Record<string, string[]> });
    const names: string[] = [];
    for (const name in res.headers) names.push(name);
    expect(names.sort()).toEqual(['__proto__', 'x-y']);
    expect(Object.getOwnPropertyDescriptor(res.headers, '__proto__')?.value).toEqual(['a', 'b']);
  });

  it('does not take inherited keys as the response shape', () => {
    const value = Object.create({ statusCode: 500 }) as object;
    expect(normalizeResponse(value).statusCode).toBe(200);
  });

  it('sends undefined and null as an empty body without a content-type', () => {
    for (const value of [undefined, null, { body: null }, { statusCode: 200, body: undefined }]) {
      expect(normalizeResponse(value)).toEqual({ statusCode: 200, headers: {}, body: Buffer.alloc(0) });
    }
  });

  it('sends bytes as they are, as application/octet-stream by default', () => {
    const bytes = new Uint8Array([1, 2, 3]).subarray(1);
    expect(normalizeResponse(bytes)).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from([2, 3]),
    });
    expect(normalizeResponse({ body: Buffer.from('b') }).headers['content-type']).toBe('application/octet-stream');
  });

  it('sends strings as UTF-8 text/plain by default', () => {
    expect(normalizeResponse('é')).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: Buffer.from('é'),
    });
  });

  it('keeps a content-type the handler set, whatever its case', () => {
    const res = normalizeResponse({ headers: { 'Content-Type': 'text/html' }, body: '<p>' });
    expect(res.headers).toEqual({ 'content-type': 'text/html' });
    const json = normalizeResponse({ headers: { 'CONTENT-TYPE': 'application/vnd.x+json' }, body: { a: 1 } });
    expect(json.headers).toEqual({ 'content-type': 'application/vnd.x+json' });
  });

  it('lower-cases header names, stringifies numbers and keeps arrays', () => {
    const res = normalizeResponse({ headers: { 'Set-Cookie': ['a=1', 'b=2'], 'Content-Length': 3, Skip: undefined } });
    expect(res.headers).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-length': '3' });
  });

  it('refuses a status code that is not a final one, an integer in 200..599 (1xx are interim answers)', () => {
    for (const statusCode of [99, 100, 101, 199, 600, 200.5, '200', NaN]) {
      expect(() => normalizeResponse({ statusCode, body: 'x' })).toThrow(/invalid statusCode/);
    }
  });

  it('refuses headers that are not an object of strings', () => {
    expect(() => normalizeResponse({ headers: 'x: y' })).toThrow(/invalid headers/);
    expect(() => normalizeResponse({ headers: { a: { b: 1 } } })).toThrow(/header a/);
  });

  it('refuses header names and values node would refuse, naming them (a newline would split the response)', () => {
    expect(() => normalizeResponse({ headers: { 'x-bad': 'a\nb' } })).toThrow('handler returned an invalid value for header x-bad: "a\\nb" holds a control character');
    expect(() => normalizeResponse({ headers: { 'set-cookie': ['ok=1', 'evil=1\r\nx: y'] } })).toThrow(/header set-cookie/);
    expect(() => normalizeResponse({ headers: { 'bad name': 'x' } })).toThrow('handler returned an invalid header name "bad name"');
    expect(normalizeResponse({ headers: { 'x-ok': 'tab\there, café' } }).headers).toEqual({ 'x-ok': 'tab\there, café' });
  });

  it('refuses a body JSON cannot encode', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => normalizeResponse(cyclic)).toThrow(/cannot be encoded as JSON/);
    expect(() => normalizeResponse({ body: 10n })).toThrow(/cannot be encoded as JSON/);
    expect(() => normalizeResponse({ body: () => 1 })).toThrow(/cannot be encoded as JSON/);
  });
});

describe('normalizeResponse of streams', () => {
  it('streams a Node stream, a ReadableStream or an async iterable, and refuses a generator or a stream-like object, never sending its internals', () => {
    function* generator() {
      yield 'a';
    }
    async function* asyncGenerator() {
      yield 'a';
    }
    for (const body of [Readable.from(['a']), new ReadableStream(), asyncGenerator()]) {
      expect(normalizeResponse({ statusCode: 200, body }).stream).toBeDefined();
    }
    const refused: Array<[unknown, string]> = [
      [generator(), 'a generator'],
      [{ pipe: () => undefined, on: () => undefined }, 'a Node stream'],
    ];
    for (const [body, kind] of refused) {
      expect(() => normalizeResponse(body)).toThrow(`handler returned ${kind} as its body, which cannot be streamed`);
      expect(() => normalizeResponse({ statusCode: 200, body })).toThrow('which cannot be streamed');
    }
    // Arrays, strings and bytes are iterable too, and sent as they always were.
    expect(normalizeResponse([1, 2]).body.toString()).toBe('[1,2]');
    expect(normalizeResponse(new Set([1])).body.toString()).toBe('{}');
  });
});
