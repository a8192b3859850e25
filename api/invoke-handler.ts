import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { PayloadTooLarge, splitTaggedName, type InvocationReply, type InvokeOutcome, type InvokeRequest, type Logger, type Runtime } from '../controller/index.js';
import { sendStream, withInvocationHeaders } from './stream-response.js';
import { sendError } from './http-errors.js';

/** Largest invocation body (README "API"). */
export const MAX_INVOKE_BODY_BYTES = 6 * 1024 * 1024;
/** The URL prefix this handler serves. */
export const INVOKE_PREFIX = '/invoke/';
/** Response bodies up to this size are written together with the head (see `HttpReply.done`). */
const SMALL_BODY_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Reads a request's body, at most {@link MAX_INVOKE_BODY_BYTES}; `done` runs once, with the
 * body or why not (PayloadTooLarge, or the request's error). A callback, not a promise: the
 * invoke path makes none on a warm replica's way.
 */
function collectBody(req: IncomingMessage, headers: Record<string, string | string[] | undefined>, done: (err: Error | null, body: Buffer) => void): void {
  const declared = Number(headers['content-length'] ?? 0);
  if (declared > MAX_INVOKE_BODY_BYTES) return done(tooLarge(), EMPTY);
  const chunks: Buffer[] = [];
  let size = 0;
  let ended = false;
  const finish = (err: Error | null, body: Buffer) => {
    if (ended) return;
    ended = true;
    done(err, body);
  };
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_INVOKE_BODY_BYTES) {
      req.removeAllListeners('data');
      req.resume();
      finish(tooLarge(), EMPTY);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => finish(null, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
  req.on('error', (err) => finish(err, EMPTY));
}

/** An invocation's body as a promise, for the paths that await it (`/async/`). */
export function readBody(req: IncomingMessage, request: InvokeRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => collectBody(req, request.headers, (err, body) => (err ? reject(err) : resolve(body))));
}

function tooLarge(): PayloadTooLarge {
  return new PayloadTooLarge(`invocation body is larger than ${MAX_INVOKE_BODY_BYTES / 1024 / 1024} MiB`);
}

/**
 * The query as a record; without a prototype, so a parameter named `__proto__` is one like any
 * other (on `{}` it would read as Object.prototype and, repeated, set the record's prototype).
 */
function parseQuery(search: string): Record<string, string | string[]> {
  const query = Object.create(null) as Record<string, string | string[]>;
  if (!search) return query;
  for (const [key, value] of new URLSearchParams(search)) {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else query[key] = [existing, value];
  }
  return query;
}

/**
 * The headers the function sees; `withholdAuthorization` drops a Glambdar credential. Without
 * one to drop, node's own object is passed through, not copied: it holds no undefined values
 * (its type allows them for headers a request may lack).
 */
function requestHeaders(received: IncomingHttpHeaders, withholdAuthorization: boolean): Record<string, string | string[]> {
  if (!withholdAuthorization || received.authorization === undefined) return received as Record<string, string | string[]>;
  const headers: Record<string, string | string[]> = {};
  // Skipped, not deleted afterwards: a delete would turn the object into a slow dictionary.
  for (const [key, value] of Object.entries(received)) if (value !== undefined && key !== 'authorization') headers[key] = value;
  return headers;
}

/**
 * `ANY /invoke/:name[@tag][/path]`, served on bare node:http ahead of express: the router costs
 * most of the throughput on a small machine. Errors go through the same mapping as express.
 */
export function createInvokeHandler(runtime: Runtime, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let invocation;
    try {
      invocation = readInvocation(req, INVOKE_PREFIX, runtime);
    } catch (err) {
      return sendError(res, err, log);
    }
    const { name, tag, request } = invocation;
    const reply = new HttpReply(res, log);
    collectBody(req, request.headers, (err, body) => {
      if (err) return reply.failed(err);
      try {
        runtime.startInvoke(name, request, body, tag, reply);
      } catch (thrown) {
        // Not expected (the invoke path tells `reply` of its errors); a thrown bug still gets its 500.
        reply.failed(thrown);
      }
    });
  };
}

/**
 * An invocation as a request under `prefix` asks for it: the function's name, the traffic tag
 * of `<name>@<tag>` (undefined: split by weight), what its handler receives (method, the path
 * after the name, query, headers). `/invoke/` and `/async/` both read requests here, so a
 * job's handler gets what a synchronous one would, and both check who may call the function
 * (`Runtime.authorizeInvoke`) before the body is read (the caller reads it next); a Glambdar
 * credential is not among the headers the handler gets (nor a job stores). A bad name or a
 * refused key throws at once.
 */
export function readInvocation(
  req: IncomingMessage,
  prefix: string,
  runtime: Pick<Runtime, 'authorizeInvoke'>,
): { name: string; tag: string | undefined; request: InvokeRequest } {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  const rest = pathname.slice(prefix.length);
  const slash = rest.indexOf('/');
  let target;
  try {
    const encoded = slash < 0 ? rest : rest.slice(0, slash);
    target = splitTaggedName(encoded.includes('%') ? decodeURIComponent(encoded) : encoded);
  } catch (err) {
    req.resume();
    throw err;
  }
  const { name, tag } = target;
  // Read once: node's `req.headers` is a getter.
  const headers = req.headers;
  // Before the body is read: a caller without a key of a private function sends nothing further.
  let withhold: boolean;
  try {
    withhold = runtime.authorizeInvoke(name, headers.authorization);
  } catch (err) {
    req.resume();
    throw err;
  }
  const request: InvokeRequest = {
    method: req.method ?? 'GET',
    path: slash < 0 ? '/' : rest.slice(slash),
    query: parseQuery(q < 0 ? '' : url.slice(q + 1)),
    headers: requestHeaders(headers, withhold),
  };
  return { name, tag, request };
}

/** The HTTP end of an invocation: its outcome as the response, or its error mapped to one. */
class HttpReply implements InvocationReply {
  readonly #res: ServerResponse;
  readonly #log: Logger;

  constructor(res: ServerResponse, log: Logger) {
    this.#res = res;
    this.#log = log;
  }

  done(outcome: InvokeOutcome): void {
    const res = this.#res;
    try {
      if (outcome.stream !== undefined) return sendStream(res, outcome, outcome.stream);
      const headers = withInvocationHeaders(outcome);
      // 204 and 304 carry no body, so no length either (node sends no body for them).
      if (outcome.statusCode !== 204 && outcome.statusCode !== 304) headers['content-length'] = outcome.body.length;
      res.writeHead(outcome.statusCode, headers);
      // A small body leaves as a latin1 string (each byte one character, so the bytes are
      // unchanged): node then sends head and body as one string in one write, where a Buffer
      // body makes a writev of two chunks through its generic path.
      if (outcome.body.length <= SMALL_BODY_BYTES) res.end(outcome.body.toString('latin1'), 'latin1');
      else res.end(outcome.body);
    } catch (err) {
      sendError(res, err, this.#log);
    }
  }

  failed(err: unknown): void {
    sendError(this.#res, err, this.#log);
  }
}
