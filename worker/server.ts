/**
 * The worker's Unix-socket server. Being listening means alive; the `hello` frame sent on
 * every connection says whether the function is ready (`loadError: null`) or why not.
 * Invocations on one connection run concurrently and answer by id, in completion order.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runCaptured, writeRealStderr } from './capture.js';
import type { WorkerConfig } from './config.js';
import {
  encodeFrame,
  FrameDecoder,
  MAX_FRAME_BYTES,
  type HelloHeader,
  type InvokeHeader,
  type LoadHeader,
  type LoadedHeader,
  type ResultHeader,
} from './framing.js';
import { loadFunction, type LoadResult } from './loader.js';
import { createRequest, normalizeResponse, type FunctionResponse } from './request.js';

/** A running worker. */
export interface Worker {
  /** Whether the function loaded; false means every invocation answers 500. */
  readonly ready: boolean;
  /**
   * Stops taking connections and invocations, waits for those in flight (bounded by
   * `drainTimeoutMs`), then closes every connection. Idempotent.
   */
  close(): Promise<void>;
}

const EMPTY = Buffer.alloc(0);

/**
 * Loads the function from `config.fnDir`, then listens on `config.socketPath` (a stale
 * socket file there is removed first). Resolves once listening; rejects only when the
 * socket cannot be bound. Installs no process-wide handlers: that is `main.ts`'s job.
 */
export async function startWorker(config: WorkerConfig): Promise<Worker> {
  // A stem cell starts empty and loads when the runtime has placed a function's code.
  let loaded: LoadResult | null = config.stem ? null : await loadFunction(config.fnDir);
  if (loaded && !loaded.ok) writeRealStderr(`glambdar worker: function failed to load: ${loaded.error}\n`);
  const hello = () =>
    encodeFrame({
      t: 'hello',
      pid: process.pid,
      loadError: loaded && !loaded.ok ? loaded.error : null,
      stem: loaded === null,
    } satisfies HelloHeader);
  let loading: Promise<LoadResult> | null = null;
  const load = async (head: LoadHeader): Promise<Buffer> => {
    if (loaded || loading) {
      return encodeFrame({ t: 'loaded', id: head.id, loadError: 'this worker has already loaded a function' } satisfies LoadedHeader);
    }
    for (const [key, value] of Object.entries(head.env)) process.env[key] = value;
    loading = loadFunction(config.fnDir);
    loaded = await loading;
    if (!loaded.ok) writeRealStderr(`glambdar worker: function failed to load: ${loaded.error}\n`);
    return encodeFrame({ t: 'loaded', id: head.id, loadError: loaded.ok ? null : loaded.error } satisfies LoadedHeader);
  };

  const sockets = new Set<Socket>();
  let inFlight = 0;
  let closing: Promise<void> | undefined;
  let onIdle: (() => void) | undefined;

  const server = createServer((socket) => {
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', (err) => writeRealStderr(`glambdar worker: connection error: ${err.message}\n`));
    socket.write(hello());
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        dropConnection(socket, (err as Error).message);
        return;
      }
      for (const { header, body } of frames) {
        if (isLoad(header)) {
          void load(header).then((frame) => socket.writable && socket.write(frame));
          continue;
        }
        if (!isInvoke(header)) {
          dropConnection(socket, 'frame is not a valid invoke');
          return;
        }
        inFlight++;
        invoke(loaded, header, body, config.maxLogBytes, closing !== undefined)
          .then(
            (frame) => {
              if (!socket.writable) return;
              // Results finished in one turn of the event loop leave in one write (writev).
              if (socket.writableCorked === 0) {
                socket.cork();
                setImmediate(() => socket.uncork());
              }
              socket.write(frame);
            },
            (err: unknown) => writeRealStderr(`glambdar worker: invocation ${header.id} failed: ${stackOf(err)}\n`),
          )
          .finally(() => {
            if (--inFlight === 0) onIdle?.();
          });
      }
    });
  });

  rmSync(config.socketPath, { force: true });
  try {
    mkdirSync(dirname(config.socketPath), { recursive: true });
  } catch {
    // Read-only root with the folder mounted: listen() reports anything that really matters.
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => writeRealStderr(`glambdar worker: server error: ${err.message}\n`));

  async function shutdown(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const deadline = Date.now() + config.drainTimeoutMs;
    if (inFlight > 0) await within(deadline, new Promise<void>((resolve) => (onIdle = resolve)));
    for (const socket of sockets) socket.end(() => socket.destroy());
    await within(deadline, closed);
    for (const socket of sockets) socket.destroy();
    await closed;
  }

  return {
    get ready() {
      return loaded?.ok === true;
    },
    close: () => (closing ??= shutdown()),
  };
}

/** Runs one invocation to its encoded result frame; never rejects. */
async function invoke(
  loaded: LoadResult | null,
  head: InvokeHeader,
  body: Buffer,
  maxLogBytes: number,
  draining: boolean,
): Promise<Buffer> {
  const started = performance.now();
  if (draining) return result(head.id, 503, 'worker is shutting down', '', '', started);
  if (!loaded) return result(head.id, 503, 'this worker has no function loaded yet', '', '', started);
  if (!loaded.ok) return result(head.id, 500, `function failed to load: ${loaded.error}`, '', '', started);
  const { handler } = loaded;
  const request = createRequest(head, body);
  const run = await runCaptured(async (): Promise<FunctionResponse> => {
    try {
      return normalizeResponse(await handler(request));
    } catch (err) {
      // Like Lambda: the stack goes to the invocation's own log, the message to the caller.
      process.stderr.write(`${stackOf(err)}\n`);
      throw err;
    }
  }, maxLogBytes);
  if (!run.ok) return result(head.id, 500, messageOf(run.error), run.stdout, run.stderr, started);
  const frame = result(head.id, run.value.statusCode, null, run.stdout, run.stderr, started, run.value);
  if (frame.length - 4 <= MAX_FRAME_BYTES) return frame;
  const error = `response of ${run.value.body.length} bytes does not fit the ${MAX_FRAME_BYTES}-byte frame limit`;
  return result(head.id, 500, error, run.stdout, run.stderr, started);
}

function result(
  id: number,
  statusCode: number,
  error: string | null,
  stdout: string,
  stderr: string,
  started: number,
  response?: FunctionResponse,
): Buffer {
  const header: ResultHeader = {
    t: 'result',
    id,
    statusCode,
    headers: response?.headers ?? {},
    stdout,
    stderr,
    error,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
  };
  return encodeFrame(header, response?.body ?? EMPTY);
}

function dropConnection(socket: Socket, why: string): void {
  writeRealStderr(`glambdar worker: dropping connection after a malformed frame: ${why}\n`);
  socket.destroy();
}

function isInvoke(header: unknown): header is InvokeHeader {
  if (header === null || typeof header !== 'object') return false;
  const h = header as Partial<Record<keyof InvokeHeader, unknown>>;
  return (
    h.t === 'invoke' &&
    Number.isSafeInteger(h.id) &&
    typeof h.method === 'string' &&
    typeof h.path === 'string' &&
    isPlainRecord(h.query) &&
    isPlainRecord(h.headers)
  );
}

function isLoad(header: unknown): header is LoadHeader {
  if (header === null || typeof header !== 'object') return false;
  const h = header as Partial<Record<keyof LoadHeader, unknown>>;
  return h.t === 'load' && Number.isSafeInteger(h.id) && isPlainRecord(h.env);
}

function isPlainRecord(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function messageOf(err: unknown): string {
  if (err !== null && typeof err === 'object' && typeof (err as Error).message === 'string') {
    const { message } = err as Error;
    if (message !== '') return message;
  }
  return safeString(err);
}

function stackOf(err: unknown): string {
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

/** Waits for `promise`, but not past `deadline` (epoch ms). */
async function within(deadline: number, promise: Promise<void>): Promise<void> {
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
