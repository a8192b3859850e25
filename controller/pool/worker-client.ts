import type { Socket } from 'node:net';
import { MAX_UNASKED_PARTIAL_BYTES, OutputRelay, type OutputListener } from './worker-output.js';
import { chunkFrameIssue, FromWorkerFrame, HelloFrame, resultFrameIssue } from '../../schemas/index.js';
import { FrameDecoder, FrameWriter, type Frame } from '../../worker/framing.js';
import { IdTable } from '../../worker/id-table.js';
import { PROTOCOL_VERSION, withoutReservedHeaders, type CancelHeader, type CreditHeader, type InterfaceName, type InvokeHeader, type LoadHeader, type ResultHeader } from '../../worker/protocol.js';
import type { TimerHandle } from '../support/clock.js';
import { ContainerDied, FunctionLoadFailed } from '../support/errors.js';
import type { Holder } from './frame-budget.js';
import { ResponseStream, type StreamControl } from './response-stream.js';
import { CancelledStreams } from './cancelled-streams.js';
import type { ClientContext, FunctionEntry, InvokeMeta, InvokeRequest, InvokeResult, Pending } from './worker-types.js';

export type { ClientContext, FunctionEntry, InvokeMeta, InvokeRequest, InvokeResult, Pending } from './worker-types.js';

/** For callers outside an invocation (tests, tools): no id, no deadline. */
const NO_META: InvokeMeta = { requestId: '', timeoutMs: 0 };

const EMPTY = Buffer.alloc(0);

/** A partial frame that gets no new byte for this long (while the runtime reads) ends the connection. */
export const FRAME_STALL_MS = 5000;

/**
 * One persistent, multiplexed connection to a worker. Requests are id-tagged frames, so any
 * number run at once over the one socket; if the socket closes, every request in flight fails
 * with ContainerDied and `onClose` tells the pool to drop the container.
 *
 * Everything the worker sends is checked: a frame must parse (schemas/protocol.ts), answer a
 * request the runtime sent and is still waiting for, and arrive whole within
 * {@link FRAME_STALL_MS}; reserved response headers (hop-by-hop, `x-glambdar-*`) are dropped.
 * Anything else ends the connection, and `closeReason` says why.
 */
export class WorkerClient {
  #loadError: string | null;
  #stem: boolean;
  #interface: InterfaceName | null;
  #socket: Socket;
  #decoder: FrameDecoder;
  #context: ClientContext;
  #pending = new IdTable<Pending>();
  /** Streamed responses whose head came and whose end has not. */
  #streams = new IdTable<ResponseStream>();
  /** Streams the runtime cancelled, until their end frame. */
  #cancelled: CancelledStreams;
  #streamControl: StreamControl = {
    credit: (id, bytes) => {
      if (!this.#closed) this.#writer.add({ t: 'credit', id, bytes } satisfies CreditHeader);
    },
    cancel: (id) => {
      const stream = this.#streams.get(id);
      if (!stream || this.#closed) return;
      this.#streams.delete(id);
      this.#cancelled.add(id, stream);
      this.#writer.add({ t: 'cancel', id } satisfies CancelHeader);
    },
  };
  #loads = new IdTable<(loadError: string | null, loadedInterface: InterfaceName | null) => void>(8);
  #nextId = 1;
  #closed = false;
  #closeReason = 'the function container closed its connection';
  /** Invoke frames of one event-loop turn leave in one write. */
  #writer: FrameWriter;
  #onClose: () => void = () => undefined;
  /** This connection's account of partial-frame bytes. */
  #holder: Holder;
  #stallTimer: TimerHandle | null = null;
  #output = new OutputRelay();

  private constructor(socket: Socket, hello: HelloFrame, decoder: FrameDecoder, context: ClientContext) {
    this.#socket = socket;
    this.#decoder = decoder;
    this.#context = context;
    this.#cancelled = new CancelledStreams(context.clock);
    this.#holder = context.budget.open(context.budgetKey);
    this.#loadError = hello.loadError;
    this.#stem = hello.stem;
    this.#interface = hello.interface;
    this.#writer = new FrameWriter((chunk) => {
      if (!this.#closed) socket.write(chunk);
    });
    // The hello said this protocol version, which has the binary invoke and result headers.
    this.#writer.binary = true;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => this.#fail());
    socket.on('error', () => socket.destroy());
  }

  /** Reads the hello frame of a new connection; anything else first ends it. */
  static greet(socket: Socket, context: ClientContext): Promise<WorkerClient> {
    return new Promise((resolve, reject) => {
      const decoder = new FrameDecoder();
      const fail = (why: string) => {
        socket.destroy();
        reject(new ContainerDied(`the function container ${why}`));
      };
      const onData = (chunk: Buffer) => {
        let frames: Frame[];
        try {
          frames = decoder.push(chunk);
        } catch (err) {
          return fail(`sent a malformed frame: ${(err as Error).message}`);
        }
        const [first, ...rest] = frames;
        if (!first) {
          if (decoder.buffered > 64 * 1024) fail('sent an oversized hello');
          return;
        }
        socket.off('data', onData);
        socket.off('close', onClose);
        // The version first: a worker of another version may greet with other fields.
        const version = (first.header as { v?: unknown } | null)?.v;
        if (typeof version === 'number' && version !== PROTOCOL_VERSION) return fail(`speaks protocol ${version}, not ${PROTOCOL_VERSION}`);
        const hello = HelloFrame.safeParse(first.header);
        if (!hello.success) return fail('did not greet with a valid hello');
        const client = new WorkerClient(socket, hello.data, decoder, context);
        resolve(client);
        // Output printed at load may follow the hello at once; anything else is a violation there.
        for (const frame of rest) {
          client.#onFrame(frame.header, frame.body);
          if (client.#closed) return;
        }
        if (decoder.buffered > 0) client.#onData(Buffer.alloc(0));
      };
      const onClose = () => reject(new ContainerDied('the function container closed its connection before hello'));
      socket.on('data', onData);
      socket.once('close', onClose);
      socket.on('error', () => socket.destroy());
    });
  }

  /** The worker's load error, or null when its handler is ready (or not loaded yet). */
  get loadError(): string | null {
    return this.#loadError;
  }

  /** The handler interface the worker runs its function under (null: none loaded, or the load failed). */
  get interface(): InterfaceName | null {
    return this.#interface;
  }

  /** True while the worker is a stem cell with no function loaded. */
  get stem(): boolean {
    return this.#stem;
  }

  /** Why the connection ended (a protocol violation names itself), once it has. */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** Accounts this connection's partial frames under another key (a stem cell given to a function). */
  set budgetKey(key: string) {
    this.#context.budget.rekey(this.#holder, key);
  }

  /**
   * Turns a stem cell into a function's worker: its code must already be in the container's
   * code folder. Resolves with the load error, or null when the handler is ready; rejects with
   * FunctionLoadFailed when the load takes longer than `timeoutMs` (the caller removes the cell).
   */
  specialize(env: Record<string, string>, entry: FunctionEntry, timeoutMs: number): Promise<string | null> {
    if (this.#closed) return Promise.reject(new ContainerDied('the stem cell is gone'));
    const id = this.#nextId++;
    const { clock } = this.#context;
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        this.#loads.delete(id);
        this.#pending.delete(id);
        reject(new FunctionLoadFailed(`the function did not finish loading within ${timeoutMs} ms (does it block at load, e.g. in an endless loop?)`));
      }, timeoutMs);
      this.#loads.set(id, (loadError, loadedInterface) => {
        clock.clearTimeout(timer);
        this.#loadError = loadError;
        this.#interface = loadedInterface;
        this.#stem = false;
        resolve(loadError);
      });
      this.#pending.set(id, {
        resolve: () => undefined,
        reject: (err) => {
          clock.clearTimeout(timer);
          reject(err);
        },
      });
      this.#writer.add({ t: 'load', id, env, interface: entry.interface, handler: entry.handler } satisfies LoadHeader);
    });
  }

  /** Number of requests in flight on this connection, streams still sending included. */
  get inFlight(): number {
    return this.#pending.size + this.#streams.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Registers where output printed outside invocations goes; what came before is handed over now. */
  onOutput(listener: OutputListener): void {
    this.#output.listen(listener);
  }

  /** Registers the one callback run when the connection is lost. */
  onClose(callback: () => void): void {
    this.#onClose = callback;
    if (this.#closed) callback();
  }

  /** Sends one invocation; resolves with the worker's result. */
  invoke(request: InvokeRequest, body: Buffer, meta: InvokeMeta = NO_META): Promise<InvokeResult> {
    return new Promise<InvokeResult>((resolve, reject) => this.send(request, body, meta, { resolve, reject }));
  }

  /**
   * Sends one invocation and tells `pending` how it ended (the invoke path's form: no promise of
   * its own). On a quiet connection it is written at once; otherwise a turn's invocations
   * leave together at its end (`FrameWriter`).
   */
  send(request: InvokeRequest, body: Buffer, meta: InvokeMeta, pending: Pending): void {
    if (this.#closed) return pending.reject(new ContainerDied('the function container is gone'));
    const id = this.#nextId++;
    this.#pending.set(id, pending);
    const header: InvokeHeader = {
      t: 'invoke',
      id,
      method: request.method,
      path: request.path,
      query: request.query,
      headers: request.headers,
      requestId: meta.requestId,
      timeoutMs: meta.timeoutMs,
    };
    // Alone on a quiet connection (nothing else in flight, and the last write carried one frame),
    // the frame leaves now: its worker starts while this turn's work goes on. Under load it
    // joins the turn's one write, even when it finds nothing in flight: the first request of a
    // burst would otherwise leave alone, and its worker wake once for it and again for the rest.
    if (this.#pending.size === 1 && this.#writer.lastWriteFrames <= 1) this.#writer.write(header, body);
    else this.#writer.add(header, body);
  }

  /** Closes the connection; in-flight requests fail. */
  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      return this.#violation(`sent a malformed frame: ${(err as Error).message}`);
    }
    for (const frame of frames) {
      this.#onFrame(frame.header, frame.body);
      if (this.#closed) return;
    }
    const buffered = this.#decoder.buffered;
    if (buffered > MAX_UNASKED_PARTIAL_BYTES && this.#pending.size === 0 && this.#streams.size === 0 && this.#cancelled.size === 0) return this.#violation('sent data nobody asked for');
    this.#account(buffered);
  }

  /** Counts the partial frame in the budget, pauses the socket past it, and times a stall. */
  #account(buffered: number): void {
    const { budget, clock } = this.#context;
    budget.set(this.#holder, buffered);
    if (this.#stallTimer) clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
    if (buffered === 0) return;
    if (!budget.hasRoom(this.#holder)) {
      this.#socket.pause();
      budget.whenRoom(this.#holder, () => {
        if (this.#closed) return;
        this.#socket.resume();
        this.#armStall();
      });
      return;
    }
    this.#armStall();
  }

  #armStall(): void {
    const { clock } = this.#context;
    if (this.#stallTimer) clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = clock.setTimeout(() => {
      this.#stallTimer = null;
      this.#violation(`left a frame unfinished for ${FRAME_STALL_MS} ms`);
    }, FRAME_STALL_MS);
  }

  #onFrame(rawHeader: unknown, body: Buffer): void {
    // Results, one per invocation, are checked by hand (resultFrameIssue); the rare others by zod.
    const t = (rawHeader as { t?: unknown } | null)?.t;
    if (t === 'result') return this.#onResult(rawHeader, body);
    if (t === 'chunk') return this.#onChunk(rawHeader, body);
    const parsed = FromWorkerFrame.safeParse(rawHeader);
    if (!parsed.success) return this.#violation(`sent an invalid frame (${parsed.error.issues[0]?.path.join('.') || 'frame'}: ${parsed.error.issues[0]?.message ?? 'invalid'})`);
    const frame = parsed.data;
    if (frame.t === 'hello') return this.#violation('said hello twice');
    if (frame.t === 'output') {
      if (body.length > 0) return this.#violation('sent an output frame with a body');
      return this.#output.push(frame.stream, frame.text);
    }
    if (frame.t === 'loaded') {
      const done = this.#loads.get(frame.id);
      if (!done) return this.#violation(`answered a load ${frame.id} nobody asked for`);
      this.#loads.delete(frame.id);
      this.#pending.delete(frame.id);
      done(frame.loadError, frame.interface);
      return;
    }
    if (frame.t === 'head') {
      const pending = this.#pending.get(frame.id);
      if (!pending || this.#loads.has(frame.id)) return this.#violation(`started a stream ${frame.id} nobody asked for`);
      this.#pending.delete(frame.id);
      const stream = new ResponseStream(frame.id, frame.statusCode, withoutReservedHeaders(frame.headers), this.#streamControl);
      this.#streams.set(frame.id, stream);
      pending.resolve({ statusCode: frame.statusCode, headers: stream.headers, body: EMPTY, stdout: '', stderr: '', error: null, errorCode: null, durationMs: 0, stream });
      return;
    }
    if (frame.t === 'end') {
      const stream = this.#streams.get(frame.id);
      if (stream) {
        this.#streams.delete(frame.id);
        stream.finish(frame);
      } else if (!this.#cancelled.end(frame.id, frame)) this.#violation(`ended a stream ${frame.id} it had not started`);
      return;
    }
    if (frame.t === 'chunk') return this.#onChunk(frame, body);
    this.#onResult(frame, body);
  }

  #onChunk(rawHeader: unknown, body: Buffer): void {
    const issue = chunkFrameIssue(rawHeader);
    if (issue !== null) return this.#violation(`sent an invalid frame (${issue})`);
    const id = (rawHeader as { id: number }).id;
    const stream = this.#streams.get(id);
    if (!stream) {
      if (!this.#cancelled.owns(id)) this.#violation(`sent a chunk of a stream ${id} it had not started`);
      return;
    }
    const over = stream.push(body);
    if (over !== null) this.#violation(over);
  }

  #onResult(rawHeader: unknown, body: Buffer): void {
    const issue = resultFrameIssue(rawHeader);
    if (issue !== null) return this.#violation(`sent an invalid frame (${issue})`);
    const frame = rawHeader as ResultHeader;
    const pending = this.#pending.get(frame.id);
    if (!pending || this.#loads.has(frame.id)) return this.#violation(`answered a request ${frame.id} nobody asked for`);
    this.#pending.delete(frame.id);
    pending.resolve({
      statusCode: frame.statusCode,
      headers: withoutReservedHeaders(frame.headers),
      body,
      stdout: frame.stdout,
      stderr: frame.stderr,
      error: frame.error,
      errorCode: frame.errorCode,
      durationMs: frame.durationMs,
    });
  }

  #violation(why: string): void {
    if (this.#closed) return;
    this.#closeReason = `the function container broke the protocol: it ${why}`;
    this.#socket.destroy();
    this.#fail();
  }

  #fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    const { budget, clock } = this.#context;
    budget.closeAccount(this.#holder);
    if (this.#stallTimer) clock.clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
    const pending = this.#pending.values();
    this.#pending.clear();
    this.#loads.clear();
    const streams = this.#streams.values();
    this.#streams.clear();
    this.#cancelled.failAll(this.#closeReason);
    for (const p of pending) p.reject(new ContainerDied(this.#closeReason));
    for (const stream of streams) stream.fail(this.#closeReason);
    this.#onClose();
  }
}
