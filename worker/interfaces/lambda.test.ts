import { afterEach, describe, expect, it } from 'vitest';
import { runFunction, type FunctionUnderTest } from '../testing/function-under-test.js';
import { gatewayTime, lambdaEvent } from './lambda-event.js';
import { lambdaResponse } from './lambda.js';

const running: FunctionUnderTest[] = [];
afterEach(async () => {
  for (const fn of running.splice(0)) await fn.close();
});

async function lambda(code: string, env: Record<string, string> = {}): Promise<FunctionUnderTest> {
  Object.assign(process.env, env);
  const fn = await runFunction({ 'index.mjs': code }, { interface: 'lambda' });
  for (const name of Object.keys(env)) delete process.env[name];
  running.push(fn);
  return fn;
}

describe('lambda interface', () => {
  it('hands an API Gateway payload 2.0 event to a handler written as the AWS docs write it', async () => {
    const fn = await lambda(`export const handler = async (event, context) => ({
      statusCode: 200,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ event, requestId: context.awsRequestId }),
    });`);
    expect(fn.hello.interface).toBe('lambda');
    const answer = await fn.call({
      method: 'POST',
      path: '/orders/7',
      query: { size: 'L', tag: ['a', 'b'] },
      headers: { host: 'api.example.com', 'content-type': 'application/json', cookie: 'session=abc; theme=dark', 'user-agent': 'curl/8', 'x-multi': ['1', '2'] },
      body: '{"qty":2}',
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    const { event, requestId } = JSON.parse(answer.text) as { event: Record<string, unknown>; requestId: string };
    expect(requestId).toBe('request-1');
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/orders/7',
      rawQueryString: 'size=L&tag=a&tag=b',
      cookies: ['session=abc', 'theme=dark'],
      headers: { host: 'api.example.com', 'content-type': 'application/json', 'user-agent': 'curl/8', 'x-multi': '1,2' },
      queryStringParameters: { size: 'L', tag: 'a,b' },
      requestContext: {
        domainName: 'api.example.com',
        http: { method: 'POST', path: '/orders/7', protocol: 'HTTP/1.1', userAgent: 'curl/8' },
        requestId: 'request-1',
        stage: '$default',
      },
      body: '{"qty":2}',
      isBase64Encoded: false,
    });
    expect((event['headers'] as Record<string, unknown>)['cookie']).toBeUndefined();
  });

  it('base64-encodes a binary body and leaves out the fields API Gateway leaves out', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x81]);
    const event = lambdaEvent({ t: 'invoke', id: 1, method: 'PUT', path: '/', query: {}, headers: { 'content-type': 'application/octet-stream' }, requestId: 'r', timeoutMs: 1000 }, bytes, 0);
    expect(event.body).toBe(bytes.toString('base64'));
    expect(event.isBase64Encoded).toBe(true);
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('cookies');
    expect(event.requestContext.time).toBe('01/Jan/1970:00:00:00 +0000');
    expect(gatewayTime(Date.UTC(2020, 2, 12, 19, 3, 58))).toBe('12/Mar/2020:19:03:58 +0000');
  });

  it('gives the context the function name, version, memory, request id and the time left', async () => {
    const fn = await lambda(
      `export const handler = async (event, context) => ({
        name: context.functionName, version: context.functionVersion, memory: context.memoryLimitInMB,
        left: context.getRemainingTimeInMillis(), waits: context.callbackWaitsForEmptyEventLoop,
        env: process.env.AWS_LAMBDA_FUNCTION_NAME,
      });`,
      { AWS_LAMBDA_FUNCTION_NAME: 'orders', AWS_LAMBDA_FUNCTION_VERSION: '4', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256' },
    );
    const answer = await fn.call({ timeoutMs: 3000 });
    const body = JSON.parse(answer.text) as Record<string, unknown>;
    expect(body).toMatchObject({ name: 'orders', version: '4', memory: '256', waits: true });
    expect(body['left']).toBeGreaterThan(2000);
    expect(body['left']).toBeLessThanOrEqual(3000);
  });

  it('answers a result without statusCode as a 200 JSON body', async () => {
    const fn = await lambda(`export const handler = async (event) => ({ hello: event.queryStringParameters.name });`);
    const answer = await fn.call({ query: { name: 'ada' } });
    expect(answer).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' }, text: '{"hello":"ada"}' });
  });

  it('works with callback-style handlers, and a callback error fails the invocation', async () => {
    const fn = await lambda(`export const handler = (event, context, callback) => {
      if (event.rawPath === '/fail') return setTimeout(() => callback(new Error('callback failed')), 1);
      setTimeout(() => callback(null, { statusCode: 201, body: 'made' }), 1);
    };`);
    expect(await fn.call({ path: '/' })).toMatchObject({ statusCode: 201, text: 'made', error: null });
    const failed = await fn.call({ path: '/fail' });
    expect(failed).toMatchObject({ statusCode: 500, error: 'callback failed' });
    expect(failed.stderr).toContain('Error: callback failed');
  });

  it('maps headers, multiValueHeaders, cookies and a base64 body as API Gateway does', async () => {
    const fn = await lambda(`export const handler = async () => ({
      statusCode: 202,
      headers: { 'X-One': 'a', 'Content-Type': 'image/png' },
      multiValueHeaders: { 'X-Many': ['b', 'c'] },
      cookies: ['a=1; Path=/', 'b=2; HttpOnly'],
      body: Buffer.from([1, 2, 3]).toString('base64'),
      isBase64Encoded: true,
    });`);
    const answer = await fn.call();
    expect(answer.statusCode).toBe(202);
    expect(answer.headers).toEqual({ 'x-one': 'a', 'content-type': 'image/png', 'x-many': ['b', 'c'], 'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'] });
    expect([...answer.body]).toEqual([1, 2, 3]);
  });

  it('refuses a response it cannot send, naming why', () => {
    expect(() => lambdaResponse({ statusCode: 99 })).toThrow(/invalid statusCode 99/);
    expect(() => lambdaResponse({ statusCode: 200, cookies: 'a=1' })).toThrow(/invalid cookies/);
    expect(lambdaResponse(undefined)).toMatchObject({ statusCode: 200, body: Buffer.from('null') });
  });

  it('fails the invocation when the handler throws, with the message as the error', async () => {
    const fn = await lambda(`export const handler = async () => { throw new Error('no such order'); };`);
    expect(await fn.call()).toMatchObject({ statusCode: 500, error: 'no such order' });
  });
});
