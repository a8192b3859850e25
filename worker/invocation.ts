/**
 * One invocation of the loaded function, as both of the worker's modes run it: the socket
 * mode (server.ts) turns the outcome into a result frame, the HTTP mode (http-mode.ts) into an
 * HTTP response. Keeping it here is what makes the two answer alike: the same adapter call, the
 * same captured output, the same error text.
 */
import { runCaptured, writeRealStderr } from './capture.js';
import { sourceLocation, type LoadResult } from './loader.js';
import type { InvokeHeader, ResultHeader } from './protocol.js';
import { isInvalidJsonBody, type FunctionResponse } from './request.js';
import type { WorkerScope } from './interfaces/types.js';
import type { BodySource, Cancellation } from './body-source.js';
import { IdTable } from './id-table.js';

/**
 * How a caller that can stream takes a streamed response: `stream` sends it (head, chunks) and
 * resolves at its end, inside the invocation's capture, so what the handler logs while it
 * streams is its own; `cancellation` is what the adapter hands the handler as its signal.
 */
export interface Streaming {
  cancellation: Cancellation;
  stream(response: FunctionResponse & { stream: BodySource }): Promise<void>;
}

/** What one invocation gave: a result frame's fields without its id, and the body bytes. */
export type InvocationOutcome = Omit<ResultHeader, 't' | 'id'> & {
  body: Buffer;
  /** Set when `error` is the function's failure to load rather than a handler's throw. */
  loadFailed: boolean;
};

const EMPTY = Buffer.alloc(0);

/** What the function printed while it loaded: prepended to the first invocation's output (as Lambda shows init logs). */
export interface InitOutput {
  stdout: string;
  stderr: string;
}

/**
 * Runs the function once for `head` and `body`, its stdout and stderr captured (at most
 * `maxLogBytes` together), after `init` (the load's output, for the first invocation). Never rejects: a throw, a function that did not load, or one not
 * loaded yet (a stem cell) is an outcome with `error` set. A streamed response goes to
 * `streaming.stream` (the outcome's `error` is then why the stream broke off, if it did).
 */
export async function runInvocation(
  loaded: LoadResult | null,
  head: InvokeHeader,
  body: Buffer,
  maxLogBytes: number,
  fnDir: string,
  streaming: Streaming,
  init: InitOutput | null = null,
): Promise<InvocationOutcome> {
  const started = nowMs();
  if (!loaded) return failed(503, 'this worker has no function loaded yet', '', '', started, false);
  const withInit = (captured: { stdout: string; stderr: string }) =>
    init === null ? captured : { stdout: init.stdout + captured.stdout, stderr: init.stderr + captured.stderr };
  if (!loaded.ok) {
    const out = withInit({ stdout: '', stderr: '' });
    return failed(500, `function failed to load: ${loaded.error}`, out.stdout, out.stderr, started, true);
  }
  const { invoke: adapter, typescript } = loaded;
  const run = await runCaptured(async (): Promise<FunctionResponse> => {
    try {
      const response = await adapter(head, body, streaming.cancellation);
      if (response.stream === undefined) return response;
      await streaming.stream(response as FunctionResponse & { stream: BodySource });
      return response;
    } catch (err) {
      // Like Lambda: the stack goes to the invocation's own log, the message to the caller.
      // A body that is not JSON is the caller's mistake: one line says so, no stack.
      if (!streaming.cancellation.cancelled) process.stderr.write(isInvalidJsonBody(err) ? `${messageOf(err)}\n` : `${stackOf(err)}\n`);
      throw err;
    }
  }, maxLogBytes);
  const out = withInit(run);
  if (!run.ok) {
    // An escaped error of req.json() on a body that is not JSON: 400, the caller's mistake.
    if (isInvalidJsonBody(run.error)) return { ...failed(400, messageOf(run.error), out.stdout, out.stderr, started, false), errorCode: 'INVALID_JSON_BODY' };
    // A TypeScript function's message also says which .ts line threw (its stack is source-mapped).
    const where = typescript ? sourceLocation(run.error, fnDir) : '';
    return failed(500, messageOf(run.error) + where, out.stdout, out.stderr, started, false);
  }
  const { statusCode, headers, body: responseBody } = run.value;
  return { statusCode, headers, body: responseBody, stdout: out.stdout, stderr: out.stderr, error: null, errorCode: null, durationMs: elapsed(started), loadFailed: false };
}

/** A result frame before encoding. */
export interface ResultFrame {
  header: ResultHeader;
  body: Buffer;
}

/** The result frame that answers invocation `id` with `outcome`. */
export function resultFrame(id: number, outcome: InvocationOutcome): ResultFrame {
  const { statusCode, headers, stdout, stderr, error, errorCode, durationMs } = outcome;
  return { header: { t: 'result', id, statusCode, headers, stdout, stderr, error, errorCode, durationMs }, body: outcome.body };
}

/** An outcome that carries an error instead of the function's answer. */
export function failed(statusCode: number, error: string, stdout: string, stderr: string, started: number, loadFailed = false): InvocationOutcome {
  return { statusCode, headers: {}, body: EMPTY, stdout, stderr, error, errorCode: null, durationMs: elapsed(started), loadFailed };
}

/**
 * A monotonic clock in milliseconds. Not `performance.now()`: the first touch of that global
 * loads node's perf_hooks (a dozen modules), a millisecond or two of every cold start.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Milliseconds since `started` (a {@link nowMs}), to the microsecond. */
export function elapsed(started: number): number {
  return Math.round((nowMs() - started) * 1000) / 1000;
}

/**
 * Work a function asked to finish after its response (fetch's `ctx.waitUntil`): the scope
 * adapters register it with, and the promises still pending, which a drain waits for.
 */
export function lingeringWork(): { scope: WorkerScope; pending: IdTable<Promise<unknown>> } {
  // An IdTable, not a Set: a handler may call waitUntil on every request (id-table.ts says why).
  const pending = new IdTable<Promise<unknown>>();
  let nextId = 1;
  const scope: WorkerScope = {
    waitUntil(promise) {
      const tracked: Promise<unknown> = Promise.resolve(promise).then(
        () => undefined,
        (err: unknown) => writeRealStderr(`glambdar worker: a waitUntil promise rejected: ${stackOf(err)}\n`),
      );
      const id = nextId++;
      pending.set(id, tracked);
      void tracked.finally(() => pending.delete(id));
    },
  };
  return { scope, pending };
}

/** Waits for every pending promise, those added meanwhile too, but not past `deadline` (epoch ms). */
export async function settleWithin(deadline: number, pending: IdTable<Promise<unknown>>): Promise<void> {
  while (pending.size > 0 && Date.now() < deadline) await within(deadline, Promise.all(pending.values()).then(() => undefined));
}

/** Waits for `promise`, but not past `deadline` (epoch ms). */
export async function within(deadline: number, promise: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    timer.unref();
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The message of anything thrown, as the caller sees it. */
export function messageOf(err: unknown): string {
  if (err !== null && typeof err === 'object' && typeof (err as Error).message === 'string') {
    const { message } = err as Error;
    if (message !== '') return message;
  }
  return safeString(err);
}

/** The stack of anything thrown, for a log. */
export function stackOf(err: unknown): string {
  if (err !== null && typeof err === 'object' && typeof (err as Error).stack === 'string') return (err as Error).stack as string;
  return `Uncaught ${safeString(err)}`;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
