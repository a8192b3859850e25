/**
 * One function per handler interface, all answering alike, for the tests that compare the
 * worker's HTTP mode with the socket mode (worker/http-mode.test.ts) and an image's answers with
 * `/invoke`'s (test/integration/image.test.ts). Each echoes the request (method, path, query,
 * body) as JSON with status 201 and headers of its own (one reserved, which must be dropped),
 * logs a line, throws on `/throw`, and on `/slow` writes `?marker=` (a file path) then waits
 * `?ms=` before answering: a request in flight for the drain tests.
 */
import type { InterfaceName } from '../protocol.js';

/** A function of one interface: its files and the `spec.interface` it is deployed with. */
export interface InterfaceFunction {
  interface: InterfaceName;
  files: Record<string, string>;
}

/** What every function does, as a plain script (CommonJS and ES modules alike). */
const CORE = (iface: InterfaceName) => `
const fs = process.getBuiltinModule('node:fs');
async function core(method, path, query, bodyText) {
  if (path === '/throw') throw new Error('boom from ${iface}');
  if (path === '/slow') {
    if (typeof query.marker === 'string') fs.writeFileSync(query.marker, 'started');
    await new Promise((resolve) => setTimeout(resolve, Number(query.ms || 1500)));
    return { status: 200, headers: { 'content-type': 'text/plain' }, text: 'slow done' };
  }
  console.log('invoked ${iface}', method, path);
  const headers = { 'content-type': 'application/json', 'x-iface': '${iface}', 'x-glambdar-forged': 'dropped', 'cache-control': 'no-store' };
  return { status: 201, headers, text: JSON.stringify({ iface: '${iface}', method, path, query, body: bodyText }) };
}
`;

/** The five functions, by interface. */
export const INTERFACE_FUNCTIONS: readonly InterfaceFunction[] = [
  {
    interface: 'glambdar',
    files: {
      'index.js': `${CORE('glambdar')}
exports.handler = async (req) => {
  const r = await core(req.method, req.path, req.query, req.body);
  return { statusCode: r.status, headers: r.headers, body: r.text };
};
`,
    },
  },
  {
    interface: 'lambda',
    files: {
      'index.js': `${CORE('lambda')}
exports.handler = async (event) => {
  const body = event.body === undefined ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const r = await core(event.requestContext.http.method, event.rawPath, event.queryStringParameters || {}, body);
  return { statusCode: r.status, headers: r.headers, body: r.text };
};
`,
    },
  },
  {
    interface: 'openfaas',
    files: {
      'index.js': `${CORE('openfaas')}
module.exports = async (event, context) => {
  const body = typeof event.body === 'string' ? event.body : JSON.stringify(event.body);
  const r = await core(event.method, event.path, event.query, body);
  return context.status(r.status).headers(r.headers).succeed(r.text);
};
`,
    },
  },
  {
    interface: 'knative',
    files: {
      'index.js': `${CORE('knative')}
const handle = async (context, body) => {
  const r = await core(context.method, context.query.p || '/', context.query, typeof body === 'string' ? body : JSON.stringify(body ?? null));
  return { statusCode: r.status, headers: r.headers, body: r.text };
};
module.exports = { handle };
`,
    },
  },
  {
    interface: 'fetch',
    files: {
      'index.mjs': `${CORE('fetch')}
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const query = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const r = await core(request.method, url.pathname, query, await request.text());
    return new Response(r.text, { status: r.status, headers: r.headers });
  },
};
`,
    },
  },
];

/** The path a function of `iface` reads as `path`: knative's context has no path, so it reads `?p=`. */
export function pathFor(iface: InterfaceName, path: string, query = ''): string {
  if (iface !== 'knative') return `${path}${query === '' ? '' : `?${query}`}`;
  return `/?p=${encodeURIComponent(path)}${query === '' ? '' : `&${query}`}`;
}
