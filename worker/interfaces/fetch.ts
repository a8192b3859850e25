/**
 * fetch-style handlers: `export default { fetch(request, env, ctx) }` (Cloudflare Workers, Deno,
 * Bun) or `export default async (request, context) => Response` (Netlify). A WHATWG `Request`
 * goes in and a `Response` comes out, both Node's own globals.
 */
import { checkStatus, headerValue, type FunctionResponse } from '../request.js';
import type { InvokeHeader } from '../protocol.js';
import { appendHeader, queryString, type Invoke, type UserFunction, type WorkerScope } from './types.js';

/** Cloudflare's `ctx` (and the parts of Netlify's `context` that mean something here). */
export interface FetchContext {
  waitUntil(promise: unknown): void;
  /** Cloudflare: fall through to the origin on an exception; there is none here, so nothing. */
  passThroughOnException(): void;
  /** Netlify: the invocation's id. */
  requestId: string;
  /** Netlify: the caller's address, as `x-forwarded-for` names it (empty when unknown). */
  ip: string;
}

/** What a fetch-style module exports: the handler, or an object holding `fetch`. */
export type FetchTarget = UserFunction | { fetch: UserFunction };

const NO_BODY = new Set(['GET', 'HEAD']);

/** The WHATWG Request of one invocation: `http://<host><path>?<query>`, its headers and body. */
export function fetchRequest(head: InvokeHeader, body: Buffer): Request {
  const query = queryString(head.query);
  const host = first(head.headers['host']) ?? 'localhost';
  let url: URL;
  try {
    url = new URL(`http://${host}${head.path}${query === '' ? '' : `?${query}`}`);
  } catch {
    url = new URL(`http://localhost${head.path.startsWith('/') ? head.path : `/${head.path}`}${query === '' ? '' : `?${query}`}`);
  }
  const headers = new Headers();
  for (const name in head.headers) {
    const value = head.headers[name]!;
    for (const item of Array.isArray(value) ? value : [value]) {
      try {
        headers.append(name, item);
      } catch {
        // A header Headers refuses (it checks what node's parser let through) is left out.
      }
    }
  }
  const method = head.method.toUpperCase();
  return new Request(url, { method, headers, body: NO_BODY.has(method) || body.length === 0 ? null : body });
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Adapts a fetch-style export. `env` is the function's environment as one object (Cloudflare
 * passes bindings there; here its variables), `ctx.waitUntil` keeps the worker from draining
 * until the promise settles.
 */
export function fetchAdapter(target: FetchTarget, scope: WorkerScope, env: NodeJS.ProcessEnv = process.env): Invoke {
  const bindings: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) bindings[name] = value;
  Object.freeze(bindings);
  const call: (request: Request, ctx: FetchContext) => unknown =
    typeof target === 'function' ? (request, ctx) => target(request, ctx) : (request, ctx) => target.fetch.call(target, request, bindings, ctx);
  return async (head, body) => {
    const forwarded = first(head.headers['x-forwarded-for']);
    const ctx: FetchContext = {
      waitUntil: (promise) => scope.waitUntil(promise),
      passThroughOnException: () => undefined,
      requestId: head.requestId,
      ip: forwarded?.split(',')[0]?.trim() ?? '',
    };
    return fetchResponse(await call(fetchRequest(head, body), ctx));
  };
}

/** Reads a Response into a result: status, headers (every `set-cookie` kept apart), the body's bytes. */
export async function fetchResponse(value: unknown): Promise<FunctionResponse> {
  if (!isResponse(value)) {
    throw new TypeError(`the fetch handler returned ${describe(value)}, not a Response (return new Response(body, { status, headers }))`);
  }
  const headers: Record<string, string | string[]> = {};
  value.headers.forEach((content, name) => {
    if (name !== 'set-cookie') appendHeader(headers, name, headerValue(content, name));
  });
  for (const cookie of value.headers.getSetCookie()) appendHeader(headers, 'set-cookie', headerValue(cookie, 'set-cookie'));
  const body = Buffer.from(await value.arrayBuffer());
  return { statusCode: checkStatus(value.status), headers, body };
}

/** A Response, Node's or one shaped like it (a bundled polyfill's). */
function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  const v = value as Partial<Response> | null;
  return v !== null && typeof v === 'object' && typeof v.status === 'number' && v.headers instanceof Headers && typeof v.arrayBuffer === 'function';
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return `a ${typeof value}`;
}
