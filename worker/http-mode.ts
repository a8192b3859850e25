/**
 * The worker's HTTP mode: the same worker, outside Glambdar, serving its one function over plain
 * HTTP/1.1 (the image `glambdar image` builds, run by Knative or Kubernetes). It answers what
 * `/invoke/<name>` answers for the same request: the invocation runs through the same code as
 * the socket mode (invocation.ts), and the response is mapped as the runtime maps a result
 * (reserved headers dropped, `content-length`, `x-glambdar-request-id`, `x-glambdar-revision`,
 * errors as `{error, code}` with the runtime's statuses). Each request is logged to stdout as one
 * JSON line (what Kubernetes log collectors read); `GET /healthz` answers probes; SIGTERM
 * drains (main.ts calls {@link HttpWorker.close}).
 */
import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeRealStderr, writeRealStdout } from './capture.js';
import type { WorkerConfig } from './config.js';
import { Cancellation, type BodySource } from './body-source.js';
import { elapsed, lingeringWork, nowMs, runInvocation, settleWithin, within, type InvocationOutcome } from './invocation.js';
import { loadFunction, type LoadResult } from './loader.js';
import { withoutReservedHeaders, type InvokeHeader } from './protocol.js';
import type { FunctionResponse } from './request.js';

/** Largest request body, as on `/invoke` (README "API"). */
export const MAX_HTTP_BODY_BYTES = 6 * 1024 * 1024;
/** The probe path: `GET` here is answered by the worker, not the function. */
export const HEALTH_PATH = '/healthz';
/** `spec.timeoutMs`'s default, for a worker started without `GLAMBDAR_TIMEOUT_MS`. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** A worker serving HTTP. */
export interface HttpWorker {
  /** The port it listens on (the one asked for, or the one the system gave for port 0). */
  readonly port: number;
  /** Whether the function loaded; false means every request answers 500 and `/healthz` 503. */
  readonly ready: boolean;
  /**
   * Stops taking connections, lets the requests in flight finish (and what they handed to
   * `ctx.waitUntil`), bounded by `drainTimeoutMs`, then closes every connection. Idempotent.
   */
  close(): Promise<void>;
}

/** A response to write: status, headers, body. */
interface Answer {
  status: number;
  headers: Record<string, string | string[] | number>;
  body: Buffer;
  /** For the log line: the error the caller was told, if any. */
  error: string | null;
}

/**
 * Loads the function from `config.fnDir` and listens on `config.httpPort` (all interfaces;
 * `host` narrows it, for tests). Resolves once it listens.
 */
export async function startHttpWorker(config: WorkerConfig & { httpPort: number }, host?: string): Promise<HttpWorker> {
  if (config.stem) throw new Error('a stem cell (GLAMBDAR_STEM=1) has no HTTP mode: it gets its function from the runtime');
  const { scope, pending: lingering } = lingeringWork();
  const loaded = await loadFunction(config.fnDir, { interface: config.interface ?? null, handler: config.handler ?? null, scope });
  if (!loaded.ok) writeRealStderr(`glambdar worker: function failed to load: ${loaded.error}\n`);
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let nextId = 1;
  let inFlight = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;
  let closing: Promise<void> | undefined;

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = nowMs();
    const requestId = randomUUID();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === HEALTH_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
      req.resume();
      send(res, health(loaded, draining), draining);
      return;
    }
    // Done once the response has left (or the connection broke), not when it was written: the
    // drain closes connections only after that.
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) onIdle?.();
    });
    let answer: Answer;
    let outcome: InvocationOutcome | null = null;
    const cancellation = new Cancellation();
    let streamed: ClientStream | null = null;
    try {
      const body = await readBody(req);
      const head: InvokeHeader = {
        t: 'invoke',
        id: nextId++,
        method: req.method ?? 'GET',
        path,
        query: parseQuery(q < 0 ? '' : url.slice(q + 1)),
        headers: requestHeaders(req),
        requestId,
        timeoutMs,
      };
      const streaming = {
        cancellation,
        stream: (response: FunctionResponse & { stream: BodySource }) => {
          streamed = new ClientStream(res, response.stream, cancellation);
          return streamed.pipe(response.statusCode, streamHeaders(response, requestId, config.revision, draining));
        },
      };
      outcome = await withTimeout(runInvocation(loaded, head, body, config.maxLogBytes, config.fnDir, streaming), timeoutMs);
      const stream = streamed as ClientStream | null;
      if (stream !== null) {
        // Its head has left: a stream that broke off (a throw, the timeout, the client gone) ends
        // the connection without the last chunk, so the client sees a truncated body, not a success.
        const error = outcome === null ? `the stream ran past ${timeoutMs} ms` : stream.cancelled ? 'the client went away' : outcome.error;
        stream.finish(error);
        logLine(config, req.method ?? 'GET', path, requestId, { status: stream.status, headers: {}, body: EMPTY, error }, outcome, started);
        return;
      }
      answer = outcome ? fromOutcome(outcome, requestId, config.revision) : failure(504, 'INVOCATION_TIMEOUT', `function "${config.functionName ?? 'function'}" did not answer within ${timeoutMs} ms`);
    } catch (err) {
      answer = err instanceof TooLarge ? failure(413, 'PAYLOAD_TOO_LARGE', err.message) : failure(500, 'INTERNAL', 'internal error');
      if (!(err instanceof TooLarge)) writeRealStderr(`glambdar worker: request failed: ${(err as Error).stack ?? String(err)}\n`);
    }
    try {
      send(res, answer, draining);
    } catch {
      // A header the function set that node refuses: the runtime answers this 500 too (api/http-errors.ts).
      answer = failure(500, 'INTERNAL', 'internal error');
      send(res, answer, draining);
    } finally {
      logLine(config, req.method ?? 'GET', path, requestId, answer, outcome, started);
    }
  };

  const server = createServer((req, res) => {
    void serve(req, res).catch((err: unknown) => {
      writeRealStderr(`glambdar worker: ${(err as Error).stack ?? String(err)}\n`);
      res.destroy();
    });
  });
  // The function's own timeout bounds a request, not node's defaults (5 min for a request).
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.httpPort, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  writeRealStderr(`glambdar worker: serving ${config.functionName ?? 'the function'} over HTTP on port ${port}\n`);

  const shutdown = async (): Promise<void> => {
    draining = true;
    // No new connections; idle keep-alive ones close now, busy ones after their response.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const deadline = Date.now() + config.drainTimeoutMs;
    if (inFlight > 0) await within(deadline, new Promise<void>((resolve) => (onIdle = resolve)));
    await settleWithin(deadline, lingering);
    // Responses sent while draining said `connection: close`, so their connections end by
    // themselves; what is still open at the deadline is cut.
    await within(deadline, closed);
    server.closeAllConnections();
  };

  return {
    port,
    get ready() {
      return loaded.ok;
    },
    close: () => (closing ??= shutdown()),
  };
}

/** `/healthz`: 200 while the function is loaded and the worker not draining, else 503. */
function health(loaded: LoadResult, draining: boolean): Answer {
  if (!loaded.ok) return failure(503, 'FUNCTION_LOAD_FAILED', `function failed to load: ${loaded.error}`);
  if (draining) return failure(503, 'DRAINING', 'worker is shutting down');
  return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': 3 }, body: Buffer.from('ok\n'), error: null };
}

/** An invocation's outcome as `/invoke` answers it (api/invoke-handler.ts and api/http-errors.ts). */
function fromOutcome(outcome: InvocationOutcome, requestId: string, revision: number | undefined): Answer {
  if (outcome.error !== null) {
    // The runtime's HandlerError and FunctionLoadFailed, with the worker's own text, and (as the
    // runtime tells a failed invocation) its request id and revision.
    const answer = failure(500, outcome.loadFailed ? 'FUNCTION_LOAD_FAILED' : 'HANDLER_ERROR', outcome.error);
    answer.headers['x-glambdar-request-id'] = requestId;
    if (revision !== undefined) answer.headers['x-glambdar-revision'] = revision;
    return answer;
  }
  const headers: Record<string, string | string[] | number> = { ...withoutReservedHeaders(outcome.headers) };
  // 204 and 304 carry no body, so no length either (node sends no body for them).
  if (outcome.statusCode !== 204 && outcome.statusCode !== 304) headers['content-length'] = outcome.body.length;
  headers['x-glambdar-request-id'] = requestId;
  if (revision !== undefined) headers['x-glambdar-revision'] = revision;
  return { status: outcome.statusCode, headers, body: outcome.body, error: null };
}

/** A streamed response's head as `/invoke` sends it: no length (chunked), the invocation's own headers. */
function streamHeaders(response: FunctionResponse, requestId: string, revision: number | undefined, draining: boolean): Record<string, string | string[] | number> {
  const headers: Record<string, string | string[] | number> = { ...withoutReservedHeaders(response.headers) };
  headers['x-glambdar-request-id'] = requestId;
  if (revision !== undefined) headers['x-glambdar-revision'] = revision;
  if (draining) headers['connection'] = 'close';
  return headers;
}

/**
 * A streamed response written to the client as the handler produces it: each chunk pulled only
 * once the previous one was taken by the socket (node's `write` returning false waits for
 * `drain`), so a slow client slows the handler and the worker holds one chunk. The client going
 * away cancels the handler's stream (its cancel, `req.signal`).
 */
class ClientStream {
  status = 200;
  #res: ServerResponse;
  #source: BodySource;
  #cancellation: Cancellation;

  constructor(res: ServerResponse, source: BodySource, cancellation: Cancellation) {
    this.#res = res;
    this.#source = source;
    this.#cancellation = cancellation;
  }

  get cancelled(): boolean {
    return this.#cancellation.cancelled;
  }

  async pipe(status: number, headers: Record<string, string | string[] | number>): Promise<void> {
    const res = this.#res;
    this.status = status;
    const gone = () => {
      if (!res.writableFinished) this.cancel(new Error('the client went away'));
    };
    res.once('close', gone);
    try {
      res.writeHead(status, STATUS_CODES[status], headers);
      // The head leaves now, not with the first chunk: the client knows the status at once.
      res.flushHeaders();
      for (let chunk = await this.#source.next(); chunk !== null && !res.destroyed; chunk = await this.#source.next()) {
        if (!res.write(chunk)) await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
    } finally {
      res.off('close', gone);
    }
  }

  /** Ends the response: whole when `error` is null, else cut off (and the handler's stream cancelled). */
  finish(error: string | null): void {
    const res = this.#res;
    if (error === null && !res.destroyed) {
      res.end();
      return;
    }
    this.cancel(new Error(error ?? 'the client went away'));
    // A head node refused (a header it cannot send) never left: the runtime answers that 500 too.
    if (!res.headersSent && !res.destroyed) {
      this.status = 500;
      send(res, failure(500, 'INTERNAL', 'internal error'), false);
      return;
    }
    res.destroy();
  }

  cancel(reason: Error): void {
    if (this.#cancellation.cancelled) return;
    this.#cancellation.cancel(reason);
    this.#source.cancel(reason);
  }
}

const EMPTY = Buffer.alloc(0);

/** An error answer as the runtime writes one: JSON `{error, code}`. */
function failure(status: number, code: string, message: string): Answer {
  const body = Buffer.from(JSON.stringify({ error: message, code }));
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length }, body, error: message };
}

function send(res: ServerResponse, answer: Answer, draining: boolean): void {
  const headers = draining ? { ...answer.headers, connection: 'close' } : answer.headers;
  // With the status's reason phrase, as the runtime's errors: a writeHead that threw leaves its own.
  res.writeHead(answer.status, STATUS_CODES[answer.status], headers);
  res.end(answer.body);
}

class TooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  const tooLarge = () => new TooLarge(`invocation body is larger than ${MAX_HTTP_BODY_BYTES / 1024 / 1024} MiB`);
  if (Number(req.headers['content-length'] ?? 0) > MAX_HTTP_BODY_BYTES) {
    req.resume();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_HTTP_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** The query as the runtime parses it: repeated names become lists. */
export function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(search)) {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else query[key] = [existing, value];
  }
  return query;
}

function requestHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(req.headers)) if (value !== undefined) headers[key] = value;
  return headers;
}

/** The outcome, or null when `timeoutMs` passed first (the invocation goes on; its answer is dropped). */
async function withTimeout(run: Promise<InvocationOutcome>, timeoutMs: number): Promise<InvocationOutcome | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One JSON line per request on stdout: what Kubernetes log collectors expect. */
function logLine(config: WorkerConfig, method: string, path: string, requestId: string, answer: Answer, outcome: InvocationOutcome | null, started: number): void {
  const line = {
    time: new Date().toISOString(),
    function: config.functionName ?? null,
    revision: config.revision ?? null,
    requestId,
    method,
    path,
    status: answer.status,
    durationMs: elapsed(started),
    stdout: outcome?.stdout ?? '',
    stderr: outcome?.stderr ?? '',
    error: answer.error,
  };
  writeRealStdout(`${JSON.stringify(line)}\n`);
}
