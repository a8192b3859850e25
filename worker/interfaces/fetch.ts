/**
 * fetch-style handlers: `export default { fetch(request, env, ctx) }` (Cloudflare Workers, Deno,
 * Bun) or `export default async (request, context) => Response` (Netlify). A WHATWG `Request`
 * goes in and a `Response` comes out, both Node's own globals.
 */
import { checkStatus, headerValue, type FunctionResponse } from '../request.js';
import { readerSource, toBytes, type BodySource } from '../body-source.js';
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
export function fetchRequest(head: InvokeHeader, body: Buffer, signal?: AbortSignal): Request {
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
  return new Request(url, { method, headers, body: NO_BODY.has(method) || body.length === 0 ? null : body, ...(signal ? { signal } : {}) });
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
  return async (head, body, cancellation) => {
    const forwarded = first(head.headers['x-forwarded-for']);
    const ctx: FetchContext = {
      waitUntil: (promise) => scope.waitUntil(promise),
      passThroughOnException: () => undefined,
      requestId: head.requestId,
      ip: forwarded?.split(',')[0]?.trim() ?? '',
    };
    return fetchResponse(await call(fetchRequest(head, body, cancellation?.signal), ctx));
  };
}

/** A body that is all there within one turn of the event loop and no larger than this is sent whole. */
export const WHOLE_BODY_BYTES = 1024 * 1024;

/**
 * Reads a Response into a result: status, headers (every `set-cookie` kept apart), the body.
 * A body that is whole at once (built from a string or bytes, or a stream that closes before
 * the event loop turns) is sent whole, with its length, as before; one still producing after
 * that turn (or larger than {@link WHOLE_BODY_BYTES}) is streamed, starting with what was read.
 */
export async function fetchResponse(value: unknown): Promise<FunctionResponse> {
  if (!isResponse(value)) {
    throw new TypeError(`the fetch handler returned ${describe(value)}, not a Response (return new Response(body, { status, headers }))`);
  }
  const headers: Record<string, string | string[]> = {};
  value.headers.forEach((content, name) => {
    if (name !== 'set-cookie') appendHeader(headers, name, headerValue(content, name));
  });
  for (const cookie of value.headers.getSetCookie()) appendHeader(headers, 'set-cookie', headerValue(cookie, 'set-cookie'));
  const statusCode = checkStatus(value.status);
  const stream = value.body;
  if (stream === null || typeof stream.getReader !== 'function') return { statusCode, headers, body: Buffer.from(await value.arrayBuffer()) };
  const read = await readWhole(stream.getReader());
  if (read.source === null) return { statusCode, headers, body: read.body };
  return { statusCode, headers, body: Buffer.alloc(0), stream: read.source };
}

const LATER = Symbol('later');

/** Reads a body while it is whole within this turn; else gives a source that starts with what was read. */
async function readWhole(reader: ReadableStreamDefaultReader<unknown>): Promise<{ body: Buffer; source: BodySource | null }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let timer: NodeJS.Immediate | undefined;
  const turn = new Promise<typeof LATER>((resolve) => (timer = setImmediate(resolve, LATER)));
  try {
    for (;;) {
      const pending = reader.read();
      const step = await Promise.race([pending, turn]);
      if (step === LATER) return { body: Buffer.alloc(0), source: resumed(chunks, pending, reader) };
      if (step.done) return { body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), source: null };
      const bytes = toBytes(step.value);
      chunks.push(bytes);
      size += bytes.length;
      if (size > WHOLE_BODY_BYTES) return { body: Buffer.alloc(0), source: resumed(chunks, null, reader) };
    }
  } finally {
    clearImmediate(timer);
  }
}

/** The reader's source, first giving back `chunks` and the result of a read already under way. */
function resumed(chunks: Buffer[], pending: Promise<{ done: boolean; value?: unknown }> | null, reader: ReadableStreamDefaultReader<unknown>): BodySource {
  const rest = readerSource(reader);
  let waiting = pending;
  return {
    async next() {
      const first = chunks.shift();
      if (first !== undefined) return first;
      if (waiting !== null) {
        const step = await waiting;
        waiting = null;
        return step.done ? null : toBytes(step.value);
      }
      return rest.next();
    },
    cancel: (reason) => rest.cancel(reason),
  };
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
