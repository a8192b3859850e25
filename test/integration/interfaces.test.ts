import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { control, deploy, eventually, functionContainers, integrationEnabled, makeZip, startRuntime, type TestRuntime } from './harness.js';

/**
 * Functions written the way each platform's documentation writes them, deployed unchanged and
 * run in real containers: query parameters, a JSON body, a non-JSON body, a status code,
 * response headers and cookies make the round trip, and errors map to the platform's statuses.
 */

// AWS Lambda behind an HTTP API / Function URL (payload format 2.0), an ES module handler.
const LAMBDA = `export const handler = async (event, context) => {
  if (event.rawPath === '/fail') {
    throw new Error('Something went wrong');
  }
  if (event.requestContext.http.method === 'POST') {
    const contentType = event.headers['content-type'] ?? '';
    if (contentType.startsWith('application/json')) {
      const order = JSON.parse(event.body);
      return {
        statusCode: 201,
        headers: { 'Content-Type': 'application/json', 'X-Order-Id': String(order.id) },
        cookies: ['last-order=' + order.id + '; Path=/', 'seen=yes'],
        body: JSON.stringify({
          received: order,
          functionName: context.functionName,
          functionVersion: context.functionVersion,
          memoryLimitInMB: context.memoryLimitInMB,
          awsRequestId: context.awsRequestId,
          remaining: context.getRemainingTimeInMillis() > 0,
          env: process.env.AWS_LAMBDA_FUNCTION_NAME,
        }),
      };
    }
    const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
    return { statusCode: 200, headers: { 'Content-Type': 'text/plain' }, body: 'text: ' + text };
  }
  const name = event.queryStringParameters?.name ?? 'world';
  return { message: 'Hello, ' + name + '!', cookies: event.cookies ?? [] };
};
`;

// OpenFaaS node20 template: function/handler.js and function/package.json, as faas-cli new makes them.
const OPENFAAS = `'use strict'

module.exports = async (event, context) => {
  if (event.path === '/fail') {
    return context.fail('invalid request');
  }
  if (event.method === 'POST' && typeof event.body === 'object') {
    return context
      .status(201)
      .headers({ 'Content-Type': 'application/json', 'X-Created': 'yes', 'Set-Cookie': ['id=42; Path=/', 'mode=json'] })
      .succeed({ created: event.body })
  }
  if (event.method === 'POST') {
    return context
      .status(200)
      .headers({ 'Content-Type': 'text/plain' })
      .succeed('echo: ' + event.body)
  }
  return context
    .status(200)
    .succeed({ query: event.query, cookie: event.headers.cookie || null })
}
`;
const OPENFAAS_PACKAGE = '{\n  "name": "openfaas-function",\n  "version": "1.0.0",\n  "main": "handler.js",\n  "dependencies": {}\n}\n';

// Knative Functions: func create -l node -t http, index.js and package.json.
const KNATIVE = `const handle = async (context, body) => {
  context.log.info('query', context.query);
  if (context.query.fail) {
    const error = new Error('Bad thing requested');
    error.statusCode = 422;
    throw error;
  }
  if (context.query.empty) {
    return;
  }
  if (context.method === 'POST') {
    if (typeof body === 'object') {
      return {
        statusCode: 201,
        headers: { 'Content-Type': 'application/json', 'X-Kind': 'json', 'Set-Cookie': ['k=1', 'n=2'] },
        body: { got: body },
      };
    }
    return { headers: { 'content-type': 'text/plain' }, body: 'echo: ' + body };
  } else if (context.method === 'GET') {
    return { query: context.query, cookie: context.headers.cookie || null };
  } else {
    return { statusCode: 405, statusMessage: 'Method not allowed' };
  }
};

module.exports = { handle };
`;
const KNATIVE_PACKAGE = JSON.stringify(
  { name: 'http-handler', version: '0.1.0', main: 'index.js', scripts: { start: 'faas-js-runtime ./index.js' }, dependencies: { 'faas-js-runtime': '^2.2.2' }, devDependencies: { tape: '^5.0.1' } },
  null,
  2,
);

// A Cloudflare Worker (also Deno's and Bun's shape): an ES module with a default { fetch }.
const WORKER = `export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === '/fail') {
      throw new Error('worker exploded');
    }
    if (request.method === 'POST') {
      if ((request.headers.get('content-type') ?? '').includes('application/json')) {
        const data = await request.json();
        const headers = new Headers({ 'X-Greeting': env.GREETING });
        headers.append('Set-Cookie', 'a=1; Path=/');
        headers.append('Set-Cookie', 'b=2');
        return Response.json({ got: data }, { status: 201, headers });
      }
      return new Response('echo: ' + (await request.text()), { headers: { 'content-type': 'text/plain' } });
    }
    ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 10)));
    return Response.json({ name: url.searchParams.get('name'), cookie: request.headers.get('cookie') });
  },
};
`;

// A Netlify function (v2): a default async function of (request, context).
const NETLIFY = `export default async (req, context) => {
  return new Response('Hello from ' + new URL(req.url).pathname + ' ' + (context.requestId ? 'with an id' : 'without'), { status: 200 });
};
`;

const JSON_HEADERS = { 'content-type': 'application/json' };

describe.runIf(integrationEnabled)('functions from other platforms, unchanged, in containers', () => {
  let rt: TestRuntime;

  beforeAll(async () => {
    rt = await startRuntime();
  });
  afterAll(async () => {
    await rt?.destroy();
  });

  const call = (name: string, path = '', init: RequestInit = {}) => fetch(`${rt.url}/invoke/${name}${path}`, init);

  async function deployed(name: string, files: Record<string, string>, fields: Record<string, string> = {}): Promise<void> {
    const res = await deploy(rt.url, `${name}.zip`, await makeZip(files), fields);
    expect(res.status, await res.clone().text()).toBe(201);
  }

  async function interfaceOf(name: string): Promise<string | null> {
    return ((await (await control(rt, `/info/${name}`)).json()) as { interface: string | null }).interface;
  }

  it('runs an AWS Lambda handler with an API Gateway payload 2.0 event and maps its answer as API Gateway does', async () => {
    await deployed('orders', { 'index.mjs': LAMBDA }, { interface: 'lambda' });

    const hello = await call('orders', '?name=Ada', { headers: { cookie: 'a=1; b=2' } });
    expect(hello.status).toBe(200);
    expect(hello.headers.get('content-type')).toBe('application/json');
    expect(await hello.json()).toEqual({ message: 'Hello, Ada!', cookies: ['a=1', 'b=2'] });

    const created = await call('orders', '', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ id: 7, items: 2 }) });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-order-id')).toBe('7');
    expect(created.headers.getSetCookie()).toEqual(['last-order=7; Path=/', 'seen=yes']);
    expect(await created.json()).toEqual({
      received: { id: 7, items: 2 },
      functionName: 'orders',
      functionVersion: '1',
      memoryLimitInMB: '128',
      awsRequestId: created.headers.get('x-glambdar-request-id'),
      remaining: true,
      env: 'orders',
    });

    const text = await call('orders', '', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'plain words' });
    expect(text.status).toBe(200);
    expect(await text.text()).toBe('text: plain words');

    const failed = await call('orders', '/fail');
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ error: 'Something went wrong', code: 'HANDLER_ERROR' });
    expect(await interfaceOf('orders')).toBe('lambda');
  });

  it("runs an OpenFaaS node20 template handler.js through its handler path, detected from module.exports", async () => {
    await deployed('faas', { 'handler.js': OPENFAAS, 'package.json': OPENFAAS_PACKAGE }, { handler: 'handler' });

    const got = await call('faas', '/items?page=2&tag=x&tag=y', { headers: { cookie: 'c=3' } });
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual({ query: { page: '2', tag: ['x', 'y'] }, cookie: 'c=3' });

    const created = await call('faas', '', { method: 'POST', headers: JSON_HEADERS, body: '{"name":"ada"}' });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-created')).toBe('yes');
    expect(created.headers.getSetCookie()).toEqual(['id=42; Path=/', 'mode=json']);
    expect(await created.json()).toEqual({ created: { name: 'ada' } });

    const echoed = await call('faas', '', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'raw text' });
    expect(await echoed.text()).toBe('echo: raw text');

    const failed = await call('faas', '/fail');
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe('invalid request');
    expect(await interfaceOf('faas')).toBe('openfaas');
  });

  it("runs a Knative func template's handle(context, body), its package.json declaring the template runtime", async () => {
    await deployed('kn', { 'index.js': KNATIVE, 'package.json': KNATIVE_PACKAGE });

    const got = await call('kn', '?q=1', { headers: { cookie: 'k=v' } });
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual({ query: { q: '1' }, cookie: 'k=v' });

    const created = await call('kn', '', { method: 'POST', headers: JSON_HEADERS, body: '{"n":1}' });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-kind')).toBe('json');
    expect(created.headers.getSetCookie()).toEqual(['k=1', 'n=2']);
    expect(await created.json()).toEqual({ got: { n: 1 } });

    const echoed = await call('kn', '', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'words' });
    expect(await echoed.text()).toBe('echo: words');

    expect((await call('kn', '?empty=1')).status).toBe(204);
    expect((await call('kn', '', { method: 'DELETE' })).status).toBe(405);
    const failed = await call('kn', '?fail=1');
    expect(failed.status).toBe(422);
    expect(await failed.text()).toBe('Bad thing requested');
    expect(await interfaceOf('kn')).toBe('knative');

    const [record] = (await (await control(rt, '/logs/kn?limit=1')).json()) as Array<{ stderr: string }>;
    expect(record?.stderr).toContain('Bad thing requested');
  });

  it('runs a Cloudflare-style Worker with env and ctx, and a Netlify-style function', async () => {
    await deployed('edge', { 'index.mjs': WORKER }, { env: JSON.stringify({ GREETING: 'hej' }) });

    const got = await call('edge', '/?name=Ada', { headers: { cookie: 'z=9' } });
    expect(got.status).toBe(200);
    expect(await got.json()).toEqual({ name: 'Ada', cookie: 'z=9' });

    const created = await call('edge', '/things', { method: 'POST', headers: JSON_HEADERS, body: '{"n":2}' });
    expect(created.status).toBe(201);
    expect(created.headers.get('x-greeting')).toBe('hej');
    expect(created.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect(await created.json()).toEqual({ got: { n: 2 } });

    const echoed = await call('edge', '', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'bytes' });
    expect(await echoed.text()).toBe('echo: bytes');

    const failed = await call('edge', '/fail');
    expect(failed.status).toBe(500);
    expect(await failed.json()).toEqual({ error: 'worker exploded', code: 'HANDLER_ERROR' });
    expect(await interfaceOf('edge')).toBe('fetch');

    await deployed('netlify', { 'index.mjs': NETLIFY });
    const netlify = await call('netlify', '/hi');
    expect(netlify.status).toBe(200);
    expect(await netlify.text()).toBe('Hello from /hi with an id');
  });

  it("finishes a Worker's ctx.waitUntil work when its container scales away: the container is stopped, not killed", async () => {
    const worker = `export default {
      async fetch(request, env, ctx) {
        ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 3000)).then(() => console.log('waitUntil work done')));
        return new Response('answered');
      },
    };`;
    await deployed('lingering', { 'index.mjs': worker }, { idleTimeoutMs: '1000' });
    expect(await (await call('lingering')).text()).toBe('answered');
    // A stem-born container's labels do not name the function: keep the ids /info gives now.
    const ids = (await functionContainers(rt, 'lingering')).map((c) => c.Id);
    expect(ids.length).toBeGreaterThan(0);
    // Idle past idleTimeoutMs, the function scales to zero while its work still runs.
    await eventually(async () => ((await functionContainers(rt, 'lingering', ids)).length === 0 ? true : undefined), 30_000, 'scale to zero');
    const output = (await (await control(rt, '/logs/lingering?container=1')).json()) as Array<{ text: string }>;
    expect(output.map((o) => o.text).join('')).toContain('waitUntil work done');
  }, 45_000);

  it('still runs the original interface, and says which shapes it accepts when a module fits none', async () => {
    await deployed('plain', { 'index.js': 'exports.handler = async (req) => ({ statusCode: 200, body: { path: req.path } });' });
    expect(await (await call('plain', '/p')).json()).toEqual({ path: '/p' });
    expect(await interfaceOf('plain')).toBe('glambdar');

    await deployed('shapeless', { 'index.js': 'exports.main = () => 1;' });
    const res = await call('shapeless');
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('FUNCTION_LOAD_FAILED');
    expect(body.error).toContain('index.js fits no handler interface: it exports main (a function); accepted:');
  });
});
