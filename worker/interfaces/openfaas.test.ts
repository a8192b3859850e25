import { afterEach, describe, expect, it } from 'vitest';
import { runFunction, type FunctionUnderTest } from '../testing/function-under-test.js';
import { openFaasBody } from './openfaas.js';

const running: FunctionUnderTest[] = [];
afterEach(async () => {
  for (const fn of running.splice(0)) await fn.close();
});

async function openfaas(handler: string, entry: { interface?: 'openfaas' | null } = {}): Promise<FunctionUnderTest> {
  const fn = await runFunction({ 'handler.js': handler, 'index.js': "'use strict'\nmodule.exports = require('./handler');\n" }, entry);
  running.push(fn);
  return fn;
}

// The node20 template's own example handler.
const TEMPLATE_EXAMPLE = `'use strict'

module.exports = async (event, context) => {
  const result = {
    'body': JSON.stringify(event.body),
    'content-type': event.headers["content-type"]
  }

  return context
    .status(200)
    .succeed(result)
}
`;

describe('openfaas interface', () => {
  it('is detected from a function as module.exports and runs the template example unchanged', async () => {
    const fn = await openfaas(TEMPLATE_EXAMPLE);
    expect(fn.hello.interface).toBe('openfaas');
    const answer = await fn.call({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"ada"}' });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(answer.text)).toEqual({ body: '{"name":"ada"}', 'content-type': 'application/json' });
  });

  it('gives the event its method, path, query and headers, and a non-JSON body as text', async () => {
    const fn = await openfaas(`module.exports = async (event, context) => context.succeed({ m: event.method, p: event.path, q: event.query, h: event.headers['x-id'], b: event.body });`);
    const answer = await fn.call({ method: 'PUT', path: '/items', query: { page: '2' }, headers: { 'x-id': '7', 'content-type': 'text/plain' }, body: 'plain words' });
    expect(JSON.parse(answer.text)).toEqual({ m: 'PUT', p: '/items', q: { page: '2' }, h: '7', b: 'plain words' });
  });

  it('sets the status and headers the context was given, cookies included', async () => {
    const fn = await openfaas(`module.exports = async (event, context) => context
      .status(201)
      .headers({ 'Content-Type': 'text/plain', 'Set-Cookie': ['a=1', 'b=2'] })
      .succeed('created');`);
    const answer = await fn.call();
    expect(answer).toMatchObject({ statusCode: 201, text: 'created', headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] } });
  });

  it('passes a returned value to succeed, objects as JSON and strings as express sends them', async () => {
    const fn = await openfaas(`module.exports = async (event) => event.path === '/text' ? 'hello' : { ok: true };`);
    expect(await fn.call({ path: '/json' })).toMatchObject({ statusCode: 200, text: '{"ok":true}', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(await fn.call({ path: '/text' })).toMatchObject({ statusCode: 200, text: 'hello', headers: { 'content-type': 'text/html; charset=utf-8' } });
  });

  it('answers fail() with 500 and the error text, and a throw the same way', async () => {
    const fn = await openfaas(`module.exports = async (event, context) => {
      if (event.path === '/throw') throw new Error('thrown');
      if (event.path === '/teapot') return context.status(418).fail('short and stout');
      return context.fail(new Error('failed on purpose'));
    };`);
    const failed = await fn.call({ path: '/fail' });
    expect(failed).toMatchObject({ statusCode: 500, text: 'Error: failed on purpose', error: null });
    expect(failed.stderr).toContain('failed on purpose');
    expect(await fn.call({ path: '/throw' })).toMatchObject({ statusCode: 500, text: 'Error: thrown' });
    expect(await fn.call({ path: '/teapot' })).toMatchObject({ statusCode: 418, text: 'short and stout' });
  });

  it('refuses malformed JSON with 400, and gives the raw bytes when RAW_BODY=true', () => {
    expect(openFaasBody({ 'content-type': 'application/json' }, Buffer.from('{nope'), false)).toEqual({ ok: false });
    expect(openFaasBody({ 'content-type': 'application/json' }, Buffer.from('{nope'), true)).toEqual({ ok: true, value: Buffer.from('{nope') });
    expect(openFaasBody({ 'content-type': 'application/problem+json' }, Buffer.from('{"a":1}'), false)).toEqual({ ok: true, value: { a: 1 } });
  });
});
