import { watch, type FSWatcher } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { FromWorkerFrame } from '../schemas/index.js';
import { encodeFrame, FrameDecoder, type InvokeHeader, type LoadHeader } from '../worker/framing.js';
import type { Clock, TimerHandle } from './clock.js';
import { ContainerDied, SandboxUnavailable } from './errors.js';

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

/**
 * One persistent, multiplexed connection to a worker. Requests are id-tagged frames, so any
 * number run at once over the one socket; if the socket closes, every request in flight
 * fails with ContainerDied and `onClose` tells the pool to drop the container.
 */
export class WorkerClient {
  #loadError: string | null;
  #stem: boolean;
  #socket: Socket;
  #pending = new Map<number, Pending>();
  #loads = new Map<number, (loadError: string | null) => void>();
  #nextId = 1;
  #closed = false;
  #corked = false;
  #uncork = () => {
    this.#corked = false;
    this.#socket.uncork();
  };
  #onClose: () => void = () => undefined;

  private constructor(socket: Socket, hello: { loadError: string | null; stem: boolean }, decoder: FrameDecoder) {
    this.#socket = socket;
    this.#loadError = hello.loadError;
    this.#stem = hello.stem;
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) this.#onFrame(frame.header, frame.body);
    });
    socket.on('close', () => this.#fail('the function container closed its connection'));
    socket.on('error', () => socket.destroy());
  }

  /**
   * Connects to the worker socket, retrying until it exists and answers with its hello frame,
   * or until `timeoutMs` has passed. The worker creates its socket when it listens: a watch on
   * the socket's folder wakes the next attempt at once, so a booting container costs no polling
   * delay (polls every 10 ms at most remain, for a connect refused between bind and listen).
   */
  static async connect(path: string, timeoutMs: number, clock: Clock, isAlive?: () => Promise<boolean>): Promise<WorkerClient> {
    const deadline = clock.now() + timeoutMs;
    const folder = new FolderChanges(dirname(path));
    let delay = 2;
    let attempts = 0;
    try {
      for (;;) {
        folder.reset();
        try {
          return await WorkerClient.#attempt(path, Math.max(1, deadline - clock.now()), clock);
        } catch (err) {
          attempts += 1;
          if (clock.now() >= deadline) {
            throw new SandboxUnavailable(`function container did not answer on its socket within ${timeoutMs} ms`, { cause: err });
          }
          if (isAlive && attempts % 25 === 0 && !(await isAlive())) {
            throw new ContainerDied('function container exited during start');
          }
          await folder.changeWithin(clock, Math.min(delay, Math.max(1, deadline - clock.now())));
          delay = Math.min(delay * 2, 10);
        }
      }
    } finally {
      folder.close();
    }
  }

  static #attempt(path: string, timeoutMs: number, clock: Clock): Promise<WorkerClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      const decoder = new FrameDecoder();
      let timer: TimerHandle | undefined = clock.setTimeout(() => {
        socket.destroy();
        reject(new Error('no hello from worker'));
      }, timeoutMs);
      const finish = (err: Error | null, client?: WorkerClient) => {
        if (timer === undefined) return;
        clock.clearTimeout(timer);
        timer = undefined;
        socket.removeListener('data', onData);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve(client!);
      };
      const onData = (chunk: Buffer) => {
        let frames;
        try {
          frames = decoder.push(chunk);
        } catch (err) {
          return finish(err as Error);
        }
        const first = frames[0];
        if (!first) return;
        const hello = FromWorkerFrame.safeParse(first.header);
        if (!hello.success || hello.data.t !== 'hello') return finish(new Error('worker did not greet with hello'));
        const client = new WorkerClient(socket, hello.data, decoder);
        finish(null, client);
        for (const extra of frames.slice(1)) client.#onFrame(extra.header, extra.body);
      };
      socket.on('data', onData);
      socket.once('error', (err) => finish(err));
      socket.once('close', () => finish(new Error('closed before hello')));
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

  /**
   * Turns a stem cell into a function's worker: its code must already be in the container's
   * code folder. Resolves with the load error, or null when the handler is ready.
   */
  specialize(env: Record<string, string>): Promise<string | null> {
    if (this.#closed) return Promise.reject(new ContainerDied('the stem cell is gone'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#loads.set(id, (loadError) => {
        this.#loadError = loadError;
        this.#stem = false;
        resolve(loadError);
      });
      this.#pending.set(id, { resolve: () => undefined, reject });
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

  #onFrame(rawHeader: unknown, body: Buffer): void {
    const parsed = FromWorkerFrame.safeParse(rawHeader);
    if (!parsed.success) return;
    const frame = parsed.data;
    if (frame.t === 'loaded') {
      this.#pending.delete(frame.id);
      this.#loads.get(frame.id)?.(frame.loadError);
      this.#loads.delete(frame.id);
      return;
    }
    if (frame.t !== 'result') return;
    const pending = this.#pending.get(frame.id);
    if (!pending) return;
    this.#pending.delete(frame.id);
    pending.resolve({
      statusCode: frame.statusCode,
      headers: frame.headers,
      body,
      stdout: frame.stdout,
      stderr: frame.stderr,
      error: frame.error,
      durationMs: frame.durationMs,
    });
  }

  #fail(message: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new ContainerDied(message));
    this.#onClose();
  }
}

/**
 * Whether anything in a folder changed since the last `reset`, with a wait that ends at the
 * first change or after a timeout. A folder that cannot be watched only times out.
 */
class FolderChanges {
  #watcher: FSWatcher | null = null;
  #changed = false;
  #wake: (() => void) | null = null;

  constructor(folder: string) {
    try {
      this.#watcher = watch(folder, () => {
        this.#changed = true;
        this.#wake?.();
      });
      this.#watcher.on('error', () => this.close());
    } catch {
      this.#watcher = null;
    }
  }

  reset(): void {
    this.#changed = false;
  }

  /** Resolves at the first change since `reset` (at once if there was one), or after `ms`. */
  changeWithin(clock: Clock, ms: number): Promise<void> {
    if (this.#changed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => done(), ms);
      const done = () => {
        clock.clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
      this.#wake = done;
    });
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }
}
