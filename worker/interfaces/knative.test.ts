import { afterEach, describe, expect, it } from 'vitest';
import { runFunction, type FunctionUnderTest } from '../testing/function-under-test.js';
import { knativeBody, knativeResponse } from './knative.js';

const running: FunctionUnderTest[] = [];
afterEach(async () => {
  for (const fn of running.splice(0)) await fn.close();
});

async function knative(code: string): Promise<FunctionUnderTest> {
  const fn = await runFunction({ 'index.js': code });
  running.push(fn);
  return fn;
}

// `func create -l node -t http`'s index.js, as the template writes it.
const TEMPLATE = `const handle = async (context, body) => {
  context.log.info("query", context.query);
  context.log.info("body", body);

  if (context.method === 'POST') {
    return { body };
  } else if (context.method === 'GET') {
    return {
      query: context.query,
    }
  } else {
    return { statusCode: 405, statusMessage: 'Method not allowed' };
  }
}

module.exports = { handle };
`;

describe('knative interface', () => {
  it('is detected from a handle export and runs the func template unchanged', async () => {
    const fn = await knative(TEMPLATE);
    expect(fn.hello.interface).toBe('knative');
    const posted = await fn.call({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
    expect(posted).toMatchObject({ statusCode: 200, text: '{"n":1}', headers: { 'content-type': 'application/json' } });
    expect(posted.stdout).toContain('info: body {"n":1}');
    expect(await fn.call({ method: 'GET', query: { q: 'x' } })).toMatchObject({ statusCode: 200, text: '{"query":{"q":"x"}}' });
    expect(await fn.call({ method: 'DELETE' })).toMatchObject({ statusCode: 405, text: '' });
  });

  it('gives the context the request: query, headers, method, http version and body', async () => {
    const fn = await knative(`exports.handle = (context, body) => ({ body: {
      q: context.query, h: context.headers['x-id'], m: context.method, v: context.httpVersion, same: context.body === body, body } });`);
    const answer = await fn.call({ method: 'PUT', query: { a: '1' }, headers: { 'x-id': '9', 'content-type': 'text/plain' }, body: 'words' });
    expect(JSON.parse(answer.text)).toEqual({ q: { a: '1' }, h: '9', m: 'PUT', v: '1.1', same: true, body: 'words' });
  });

  it('sends the status, headers and cookies of a returned response, 204 for nothing', async () => {
    const fn = await knative(`exports.handle = async (context) => context.method === 'GET'
      ? { statusCode: 201, headers: { 'Content-Type': 'text/plain', 'Set-Cookie': ['a=1', 'b=2'] }, body: 'made' }
      : undefined;`);
    expect(await fn.call({ method: 'GET' })).toMatchObject({ statusCode: 201, text: 'made', headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] } });
    expect(await fn.call({ method: 'POST' })).toMatchObject({ statusCode: 204, text: '' });
  });

  it("answers a thrown error's statusCode, or 500, with its message", async () => {
    const fn = await knative(`exports.handle = async (context) => {
      if (context.query.missing) { const err = new Error('no such thing'); err.statusCode = 404; throw err; }
      throw new Error('broken');
    };`);
    const notFound = await fn.call({ query: { missing: '1' } });
    expect(notFound).toMatchObject({ statusCode: 404, text: 'no such thing', error: null });
    expect(notFound.stderr).toContain('no such thing');
    expect(await fn.call()).toMatchObject({ statusCode: 500, text: 'broken' });
  });

  it('parses JSON and forms, keeps text as text and bytes as bytes', () => {
    expect(knativeBody({ 'content-type': 'application/json' }, Buffer.from('[1]'))).toEqual([1]);
    expect(knativeBody({ 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from('a=1&b=x'))).toEqual({ a: '1', b: 'x' });
    expect(knativeBody({}, Buffer.from('hi'))).toBe('hi');
    expect(knativeBody({ 'content-type': 'application/octet-stream' }, Buffer.from([1]))).toEqual(Buffer.from([1]));
    expect(knativeBody({}, Buffer.alloc(0))).toBeUndefined();
    expect(knativeResponse('text')).toMatchObject({ statusCode: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    expect(knativeResponse({ statusCode: 202 })).toMatchObject({ statusCode: 202, body: Buffer.alloc(0) });
  });
});
