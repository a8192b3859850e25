/**
 * The worker's link to the runtime. The worker connects to the runtime's socket (the runtime
 * listens; the container sees the socket's folder read-only), says `hello` on every connection,
 * and answers invoke and load frames by id, in completion order, many at once. Being connected
 * means alive; `hello.loadError` says whether the function is ready. When the connection drops
 * (the runtime restarted), the worker connects again, so a new runtime can adopt it.
 */
import { watch, type FSWatcher } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { onStrayOutput, runCaptured, writeRealStderr } from './capture.js';
import type { WorkerConfig } from './config.js';
import { encodeFrame, FrameDecoder, FrameWriter, MAX_FRAME_BYTES } from './framing.js';
import { IdTable } from './id-table.js';
import { PROTOCOL_VERSION, type EndHeader, type HeadHeader, type HelloHeader, type InvokeHeader, type LoadHeader, type LoadedHeader } from './protocol.js';
import { isCancelHeader, isCreditHeader, isInvokeHeader, isLoadHeader } from './protocol.js';
import { Cancellation } from './body-source.js';
import { cancelStream, StreamOut, type ActiveStream, type StreamIO } from './stream-out.js';
import { loadFunction, type LoadOptions, type LoadResult } from './loader.js';
import { failed, lingeringWork, nowMs, resultFrame, runInvocation, settleWithin, stackOf, within, type InitOutput, type ResultFrame } from './invocation.js';
import { StrayOutput } from './stray-output.js';
import { rehearseInvoke, rehearseLoad } from './rehearsal.js';

/** A running worker. */
export interface Worker {
  /** Whether the function loaded; false means every invocation answers 500. */
  readonly ready: boolean;
  /** Whether a connection to the runtime is open now. */
  readonly connected: boolean;
  /**
   * Stops connecting and taking invocations, waits for those in flight (bounded by
   * `drainTimeoutMs`), then closes the connection. Idempotent.
   */
  close(): Promise<void>;
}

const EMPTY = Buffer.alloc(0);
/** First and longest wait between connection attempts; a change in the socket's folder ends a wait early. */
const FIRST_RETRY_MS = 5;
const MAX_RETRY_MS = 1000;

/**
 * Loads the function from `config.fnDir` (unless a stem cell), then connects to the runtime at
 * `config.socketPath`, retrying until it can. Resolves once the function is loaded; the first
 * connection may still be on its way. Installs no process-wide handlers: that is `main.ts`'s job.
 */
export async function startWorker(config: WorkerConfig): Promise<Worker> {
  const stray = new StrayOutput();
  onStrayOutput((stream, text) => stray.write(stream, text));
  // Work a function asked to finish after its response (fetch's ctx.waitUntil): the drain waits for it.
  const { scope, pending: lingering } = lingeringWork();
  let initOutput: InitOutput | null = null;
  /** Loads the function with its output captured: that output is the init log. */
  const loadCaptured = async (options: LoadOptions): Promise<LoadResult> => {
    const run = await runCaptured(() => loadFunction(config.fnDir, options), config.maxLogBytes);
    if (run.stdout !== '' || run.stderr !== '') {
      initOutput = { stdout: run.stdout, stderr: run.stderr };
      stray.write('stdout', run.stdout);
      stray.write('stderr', run.stderr);
    }
    return run.ok ? run.value : { ok: false, error: String(run.error) };
  };
  const takeInitOutput = (): InitOutput | null => {
    const output = initOutput;
    initOutput = null;
    return output;
  };
  // A stem cell starts empty and loads when the runtime has placed a function's code; it
  // rehearses a load and an invocation first, off the cold start's path.
  if (config.stem) {
    await rehearseLoad();
    await rehearseInvoke();
  }
  let loaded: LoadResult | null = config.stem ? null : await loadCaptured({ interface: config.interface ?? null, handler: config.handler ?? null, scope });
  if (loaded && !loaded.ok) writeRealStderr(`glambdar worker: function failed to load: ${loaded.error}\n`);
  const hello = () =>
    encodeFrame({
      t: 'hello',
      v: PROTOCOL_VERSION,
      pid: process.pid,
      loadError: loaded && !loaded.ok ? loaded.error : null,
      stem: loaded === null,
      interface: loaded?.ok === true ? loaded.interface : null,
    } satisfies HelloHeader);
  let loading: Promise<LoadResult> | null = null;
  const load = async (head: LoadHeader): Promise<LoadedHeader> => {
    if (loaded || loading) return { t: 'loaded', id: head.id, loadError: 'this worker has already loaded a function', interface: null };
    for (const [key, value] of Object.entries(head.env)) process.env[key] = value;
    loading = loadCaptured({ interface: head.interface, handler: head.handler, scope });
    loaded = await loading;
    if (!loaded.ok) writeRealStderr(`glambdar worker: function failed to load: ${loaded.error}\n`);
    return { t: 'loaded', id: head.id, loadError: loaded.ok ? null : loaded.error, interface: loaded.ok ? loaded.interface : null };
  };

  let socket: Socket | null = null;
  /** The open connection's writer: what it holds leaves before the connection ends. */
  let writer: FrameWriter | null = null;
  let inFlight = 0;
  let closing: Promise<void> | undefined;
  let onIdle: (() => void) | undefined;
  /**
   * Made at the first failed connect: at a start the runtime's socket is already there, and a
   * watch costs ~1 ms of the cold start (node loads its watcher module). A socket that appears
   * before the watch does is found by the first retry's timer.
   */
  let folder: FolderWatch | null = null;
  let retryMs = FIRST_RETRY_MS;
  let retryTimer: NodeJS.Timeout | undefined;

  const serve = (conn: Socket): void => {
    socket = conn;
    retryMs = FIRST_RETRY_MS;
    conn.write(hello());
    stray.connect((frame) => conn.writable && conn.write(frame));
    const decoder = new FrameDecoder();
    // Results finished in one turn of the event loop leave in one write.
    const connWriter = new FrameWriter((chunk) => {
      if (conn.writable) conn.write(chunk);
    });
    writer = connWriter;
    // The streamed responses of this connection in flight, by invocation id.
    const streams = new IdTable<ActiveStream>();
    const io: StreamIO = { send: (header, body) => connWriter.add(header, body), streams };
    conn.once('close', () => {
      for (const active of streams.values()) cancelStream(active, new Error('the connection to the runtime closed'));
    });
    conn.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        dropConnection(conn, (err as Error).message);
        return;
      }
      // Results answer in the form the runtime asked in (the bench's hop floor speaks JSON).
      connWriter.binary = decoder.binary;
      for (const { header, body } of frames) {
        const t = (header as { t?: unknown } | null)?.t;
        if (t === 'credit' || t === 'cancel') {
          // A stream that already ended may still get the runtime's late credit or cancel.
          if (isCreditHeader(header)) streams.get(header.id)?.out.grant(header.bytes);
          else if (isCancelHeader(header)) {
            const active = streams.get(header.id);
            if (active) cancelStream(active, new Error('the client went away, or the invocation ran out of time'));
          } else {
            dropConnection(conn, `frame is not a valid ${String(t)}`);
            return;
          }
          continue;
        }
        if (isLoadHeader(header)) {
          void load(header).then((frame) => connWriter.add(frame));
          continue;
        }
        if (!isInvokeHeader(header)) {
          dropConnection(conn, 'frame is not a valid invoke');
          return;
        }
        inFlight++;
        invoke(loaded, header, body, config.maxLogBytes, closing !== undefined, takeInitOutput, config.fnDir, io)
          .then(
            (frame) => {
              // A streamed response has sent its own frames.
              if (frame === null) return;
              if (!connWriter.add(frame.header, frame.body, MAX_FRAME_BYTES)) connWriter.add(tooLarge(frame).header);
            },
            (err: unknown) => writeRealStderr(`glambdar worker: invocation ${header.id} failed: ${stackOf(err)}\n`),
          )
          .finally(() => {
            if (--inFlight === 0) onIdle?.();
          });
      }
    });
  };

  const attempt = (): void => {
    retryTimer = undefined;
    if (closing !== undefined) return;
    folder?.reset();
    const conn = connect(config.socketPath);
    let opened = false;
    conn.once('connect', () => {
      opened = true;
      serve(conn);
    });
    conn.on('error', (err) => {
      if (opened) writeRealStderr(`glambdar worker: connection error: ${err.message}\n`);
    });
    conn.once('close', () => {
      if (socket === conn) {
        socket = null;
        stray.disconnect();
        writer = null;
      }
      scheduleRetry();
    });
  };

  const scheduleRetry = (): void => {
    if (closing !== undefined || retryTimer !== undefined) return;
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    retryTimer = setTimeout(attempt, wait);
    folder ??= new FolderWatch(dirname(config.socketPath), basename(config.socketPath));
    folder.onChange(() => {
      if (retryTimer === undefined) return;
      clearTimeout(retryTimer);
      attempt();
    });
  };

  attempt();

  async function shutdown(): Promise<void> {
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
    folder?.close();
    const deadline = Date.now() + config.drainTimeoutMs;
    if (inFlight > 0) await within(deadline, new Promise<void>((resolve) => (onIdle = resolve)));
    // Then what invocations asked to finish after their responses (ctx.waitUntil), within the same bound.
    await settleWithin(deadline, lingering);
    const open = socket as Socket | null;
    if (open) {
      const closed = new Promise<void>((resolve) => open.once('close', () => resolve()));
      // What the drained work printed last (ctx.waitUntil's) leaves before the end.
      stray.flush();
      writer?.flush();
      open.end();
      await within(deadline, closed);
      open.destroy();
    }
  }

  return {
    get ready() {
      return loaded?.ok === true;
    },
    get connected() {
      return socket !== null;
    },
    close: () => (closing ??= shutdown()),
  };
}

/**
 * Wakes a waiting reconnect when the runtime's socket appears in its folder (inotify works on a
 * read-only mount). A folder that cannot be watched leaves the timer alone to retry.
 */
class FolderWatch {
  #watcher: FSWatcher | null = null;
  #wake: (() => void) | null = null;
  #changed = false;

  constructor(folder: string, file: string) {
    try {
      this.#watcher = watch(folder, (_event, name) => {
        if (name !== null && name !== file) return;
        this.#changed = true;
        const wake = this.#wake;
        this.#wake = null;
        wake?.();
      });
      this.#watcher.on('error', () => this.close());
      this.#watcher.unref();
    } catch {
      this.#watcher = null;
    }
  }

  reset(): void {
    this.#changed = false;
    this.#wake = null;
  }

  /** Calls `wake` at the next change (at once if one came since `reset`). */
  onChange(wake: () => void): void {
    if (this.#changed) {
      this.#changed = false;
      wake();
      return;
    }
    this.#wake = wake;
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
    this.#wake = null;
  }
}

/**
 * Runs one invocation to its result frame; never rejects. A streamed response sends its head,
 * chunks and end through `io` instead (inside the invocation's capture, so what the handler
 * logs while streaming is its own), and gives null.
 */
async function invoke(
  loaded: LoadResult | null,
  head: InvokeHeader,
  body: Buffer,
  maxLogBytes: number,
  draining: boolean,
  takeInitOutput: () => InitOutput | null,
  fnDir: string,
  io: StreamIO,
): Promise<ResultFrame | null> {
  if (draining) return resultFrame(head.id, failed(503, 'worker is shutting down', '', '', nowMs()));
  const cancellation = new Cancellation();
  let out: StreamOut | null = null;
  const outcome = await runInvocation(loaded, head, body, maxLogBytes, fnDir, {
    cancellation,
    async stream(response) {
      const stream = new StreamOut(head.id, io.send);
      out = stream;
      io.streams.set(head.id, { out: stream, cancellation, source: response.stream });
      io.send({ t: 'head', id: head.id, statusCode: response.statusCode, headers: response.headers } satisfies HeadHeader);
      await stream.pump(response.stream);
    },
  }, loaded ? takeInitOutput() : null); // the load's output goes to the first invocation of the loaded function
  const streamed = out as StreamOut | null;
  if (streamed === null) return resultFrame(head.id, outcome);
  io.streams.delete(head.id);
  const cancelled = streamed.cancelled;
  const error = cancelled ? `the stream was cancelled: ${cancelled.message}` : outcome.error;
  io.send({ t: 'end', id: head.id, stdout: outcome.stdout, stderr: outcome.stderr, error, durationMs: outcome.durationMs } satisfies EndHeader);
  return null;
}

/** What a response that does not fit in one frame becomes: a 500 that says why. */
function tooLarge(frame: ResultFrame): ResultFrame {
  const { header, body } = frame;
  const error = `response of ${body.length} bytes does not fit the ${MAX_FRAME_BYTES}-byte frame limit`;
  return { header: { ...header, statusCode: 500, headers: {}, error, errorCode: null }, body: EMPTY };
}

function dropConnection(socket: Socket, why: string): void {
  writeRealStderr(`glambdar worker: dropping connection after a malformed frame: ${why}\n`);
  socket.destroy();
}
