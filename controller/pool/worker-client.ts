import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { FromWorkerFrame, HelloFrame } from '../../schemas/index.js';
import { encodeFrame, FrameDecoder, type Frame } from '../../worker/framing.js';
import { isReservedResponseHeader, PROTOCOL_VERSION, type InvokeHeader, type LoadHeader } from '../../worker/protocol.js';
import type { Clock, TimerHandle } from '../support/clock.js';
import { ContainerDied, FunctionLoadFailed, SandboxUnavailable } from '../support/errors.js';

/** What one invocation sends: everything but the frame id. */
export type InvokeRequest = Omit<InvokeHeader, 't' | 'id'>;

/** What a worker answered for one invocation. */
export interface InvokeResult {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  stdout: string;
  stderr: string;
  error: string | null;
  durationMs: number;
}

interface Pending {
  resolve(result: InvokeResult): void;
  reject(err: Error): void;
}

/** A partial frame that gets no new byte for this long (while the runtime reads) ends the connection. */
export const FRAME_STALL_MS = 5000;

/** One connection as the budget counts it. */
interface Holder {
  key: string;
  bytes: number;
}

/**
 * Bytes of partial frames held in memory, per function and in total. Past either bound a
 * connection that receives more is paused (its worker's writes then wait in the kernel) until
 * frames complete elsewhere, except the connection holding the most, which always reads on:
 * it finishes its frame (or stalls, and is dropped) and frees room, so pausing never
 * deadlocks. No function can grow the runtime's memory past the bounds by more than a frame,
 * and one function's stalled frames hold back only its own connections until the total is reached.
 */
export class FrameBudget {
  readonly perFunction: number;
  readonly total: number;
  #holders = new Set<Holder>();
  #byKey = new Map<string, number>();
  #sum = 0;
  #paused: Array<{ holder: Holder; resume: () => void }> = [];

  constructor(options: { perFunction: number; total: number }) {
    this.perFunction = options.perFunction;
    this.total = options.total;
  }

  /** A new connection's account, under `key` (a function's name). */
  open(key: string): Holder {
    const holder = { key, bytes: 0 };
    this.#holders.add(holder);
    return holder;
  }

  /** Ends an account: its bytes are freed and a wait for room is cancelled. */
  closeAccount(holder: Holder): void {
    this.set(holder, 0);
    this.#holders.delete(holder);
    this.#paused = this.#paused.filter((p) => p.holder !== holder);
  }

  /** Moves an account to another key (a stem cell given to a function). */
  rekey(holder: Holder, key: string): void {
    const bytes = holder.bytes;
    this.set(holder, 0);
    holder.key = key;
    this.set(holder, bytes);
  }

  /** Bytes held now, in total or under one key. */
  held(key?: string): number {
    return key === undefined ? this.#sum : (this.#byKey.get(key) ?? 0);
  }

  /** Sets what a connection holds now. */
  set(holder: Holder, bytes: number): void {
    const delta = bytes - holder.bytes;
    if (delta === 0) return;
    holder.bytes = bytes;
    const next = (this.#byKey.get(holder.key) ?? 0) + delta;
    if (next <= 0) this.#byKey.delete(holder.key);
    else this.#byKey.set(holder.key, next);
    this.#sum += delta;
    if (delta < 0 && this.#paused.length > 0) this.#wake();
  }

  /** Whether `holder` may read on: both bounds hold, or it is the largest holder of each bound that does not. */
  hasRoom(holder: Holder): boolean {
    if (this.#sum > this.total && !this.#largest(holder, () => true)) return false;
    if ((this.#byKey.get(holder.key) ?? 0) > this.perFunction && !this.#largest(holder, (h) => h.key === holder.key)) return false;
    return true;
  }

  /** Calls `resume` once `holder` has room again. */
  whenRoom(holder: Holder, resume: () => void): void {
    this.#paused.push({ holder, resume });
  }

  #largest(holder: Holder, among: (h: Holder) => boolean): boolean {
    for (const h of this.#holders) if (h !== holder && among(h) && h.bytes > holder.bytes) return false;
    return true;
  }

  #wake(): void {
    const ready = this.#paused.filter((p) => this.hasRoom(p.holder));
    if (ready.length === 0) return;
    this.#paused = this.#paused.filter((p) => !ready.includes(p));
    for (const p of ready) p.resume();
  }
}

/** Defaults: a whole 16 MiB frame per connection fits twice per function; 256 MiB in all. */
export const DEFAULT_FRAME_BUDGET = { perFunction: 32 * 1024 * 1024, total: 256 * 1024 * 1024 };

/** What a client is accounted under and timed with. */
export interface ClientContext {
  clock: Clock;
  budget: FrameBudget;
  /** The budget's key: the function's name ('' for a stem cell until it is given one). */
  budgetKey: string;
}

/**
 * Where one container's worker connects: a Unix socket the runtime listens on, in a folder the
 * container has mounted read-only. The first connection is the container's worker (nothing
 * else can reach this socket); the listener then closes and its file goes, so no second
 * connection can be made. Created before the container, so the worker finds it at boot.
 */
export class WorkerListener {
  readonly path: string;
  #server: Server;
  #first: Promise<WorkerClient>;
  #closed = false;

  private constructor(path: string, server: Server, first: Promise<WorkerClient>) {
    this.path = path;
    this.#server = server;
    this.#first = first;
    // A listener closed before anyone connected must not leave an unhandled rejection.
    first.catch(() => undefined);
  }

  /**
   * Listens at `path` (a stale file there is replaced) with a mode the container's user may
   * connect to. The folder must be the runtime's own: a container sees it read-only.
   */
  static async listen(path: string, context: ClientContext): Promise<WorkerListener> {
    await rm(path, { force: true });
    const server = createServer();
    let settle: { resolve(c: WorkerClient): void; reject(e: Error): void } | undefined;
    const first = new Promise<WorkerClient>((resolve, reject) => (settle = { resolve, reject }));
    let listener: WorkerListener | undefined;
    server.on('connection', (socket: Socket) => {
      if (!settle) {
        socket.destroy();
        return;
      }
      const { resolve, reject } = settle;
      settle = undefined;
      listener?.close();
      WorkerClient.greet(socket, context).then(resolve, reject);
    });
    server.on('close', () => settle?.reject(new ContainerDied('the function container never connected')));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    // The worker runs as uid 65534; connecting to a Unix socket needs write access to it.
    await chmod(path, 0o666);
    listener = new WorkerListener(path, server, first);
    return listener;
  }

  /**
   * The worker's connection once it has said hello, or a rejection after `timeoutMs`
   * (SandboxUnavailable; the caller knows whether the container still runs).
   */
  accept(timeoutMs: number, clock: Clock): Promise<WorkerClient> {
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        this.close();
        reject(new SandboxUnavailable(`function container did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#first.then(
        (client) => {
          clock.clearTimeout(timer);
          resolve(client);
        },
        (err: Error) => {
          clock.clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  /** Stops listening and removes the socket file; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    void rm(this.path, { force: true }).catch(() => undefined);
  }
}

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
  #socket: Socket;
  #decoder: FrameDecoder;
  #context: ClientContext;
  #pending = new Map<number, Pending>();
  #loads = new Map<number, (loadError: string | null) => void>();
  #nextId = 1;
  #closed = false;
  #closeReason = 'the function container closed its connection';
  #corked = false;
  #uncork = () => {
    this.#corked = false;
    this.#socket.uncork();
  };
  #onClose: () => void = () => undefined;
  /** This connection's account of partial-frame bytes. */
  #holder: Holder;
  #stallTimer: TimerHandle | null = null;

  private constructor(socket: Socket, hello: HelloFrame, decoder: FrameDecoder, context: ClientContext) {
    this.#socket = socket;
    this.#decoder = decoder;
    this.#context = context;
    this.#holder = context.budget.open(context.budgetKey);
    this.#loadError = hello.loadError;
    this.#stem = hello.stem;
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
        const hello = HelloFrame.safeParse(first.header);
        if (!hello.success) return fail('did not greet with a valid hello');
        if (hello.data.v !== PROTOCOL_VERSION) return fail(`speaks protocol ${hello.data.v}, not ${PROTOCOL_VERSION}`);
        const client = new WorkerClient(socket, hello.data, decoder, context);
        resolve(client);
        if (rest.length > 0) client.#violation('sent frames nobody asked for');
        else if (decoder.buffered > 0) client.#onData(Buffer.alloc(0));
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
  specialize(env: Record<string, string>, timeoutMs: number): Promise<string | null> {
    if (this.#closed) return Promise.reject(new ContainerDied('the stem cell is gone'));
    const id = this.#nextId++;
    const { clock } = this.#context;
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        this.#loads.delete(id);
        this.#pending.delete(id);
        reject(new FunctionLoadFailed(`the function did not finish loading within ${timeoutMs} ms (does it block at load, e.g. in an endless loop?)`));
      }, timeoutMs);
      this.#loads.set(id, (loadError) => {
        clock.clearTimeout(timer);
        this.#loadError = loadError;
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
      this.#socket.write(encodeFrame({ t: 'load', id, env } satisfies LoadHeader));
    });
  }

  /** Number of requests in flight on this connection. */
  get inFlight(): number {
    return this.#pending.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Registers the one callback run when the connection is lost. */
  onClose(callback: () => void): void {
    this.#onClose = callback;
    if (this.#closed) callback();
  }

  /** Sends one invocation; resolves with the worker's result. */
  invoke(request: InvokeRequest, body: Buffer): Promise<InvokeResult> {
    if (this.#closed) return Promise.reject(new ContainerDied('the function container is gone'));
    const id = this.#nextId++;
    return new Promise<InvokeResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const header: InvokeHeader = { t: 'invoke', id, ...request };
      // Frames sent in one turn of the event loop leave in one write (writev), not one syscall each.
      if (!this.#corked) {
        this.#corked = true;
        this.#socket.cork();
        setImmediate(this.#uncork);
      }
      this.#socket.write(encodeFrame(header, body));
    });
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
    if (buffered > 0 && this.#pending.size === 0) return this.#violation('sent data nobody asked for');
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
    const parsed = FromWorkerFrame.safeParse(rawHeader);
    if (!parsed.success) return this.#violation(`sent an invalid frame (${parsed.error.issues[0]?.path.join('.') || 'frame'}: ${parsed.error.issues[0]?.message ?? 'invalid'})`);
    const frame = parsed.data;
    if (frame.t === 'hello') return this.#violation('said hello twice');
    if (frame.t === 'loaded') {
      const done = this.#loads.get(frame.id);
      if (!done) return this.#violation(`answered a load ${frame.id} nobody asked for`);
      this.#loads.delete(frame.id);
      this.#pending.delete(frame.id);
      done(frame.loadError);
      return;
    }
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
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#loads.clear();
    for (const p of pending) p.reject(new ContainerDied(this.#closeReason));
    this.#onClose();
  }
}

/**
 * The headers of a response without the reserved ones (compared case-insensitively), names in
 * lower case; a name given in two cases becomes one list. The worker's own object is returned
 * when there is nothing to drop (the usual case: no copy on the hot path).
 */
export function withoutReservedHeaders(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  let clean = true;
  for (const name in headers) {
    if (name !== name.toLowerCase() || isReservedResponseHeader(name)) {
      clean = false;
      break;
    }
  }
  if (clean) return headers;
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (isReservedResponseHeader(lower)) continue;
    const existing = out[lower];
    if (existing === undefined) out[lower] = value;
    else out[lower] = [...(Array.isArray(existing) ? existing : [existing]), ...(Array.isArray(value) ? value : [value])];
  }
  return out;
}
