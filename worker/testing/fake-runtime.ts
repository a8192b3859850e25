/**
 * The runtime's end of the worker socket, for worker tests: listens where a worker connects
 * and hands out each accepted connection as a {@link RuntimeConnection} that collects frames.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { encodeFrame, FrameDecoder, FrameWriter, type Frame } from '../framing.js';
import { type InvokeHeader } from '../protocol.js';

/** One accepted worker connection; a test awaits its n-th frame. */
export class RuntimeConnection {
  readonly frames: Frame[] = [];
  readonly socket: Socket;
  readonly closed: Promise<void>;
  /** Reads the worker's frames; its `binary` says whether one came in the binary form. */
  readonly decoder = new FrameDecoder();
  #waiters: Array<() => void> = [];
  #ended = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.frames.push(...this.decoder.push(chunk));
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('error', () => {}); // a reset after the worker drops us is expected here
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.#ended = true;
        for (const wake of this.#waiters.splice(0)) wake();
        resolve();
      }),
    );
  }

  /** The first `count` frames, once they have come; rejects if the connection closes first. */
  async next(count: number): Promise<Frame[]> {
    while (this.frames.length < count) {
      if (this.#ended) throw new Error(`connection closed after ${this.frames.length} of ${count} frames`);
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.frames.slice(0, count);
  }

  /** Sends an invoke frame with a JSON body (or none), its header as JSON (as the bench's hop floor does) or in the binary form (as the runtime does). */
  invoke(id: number, path: string, body?: unknown, method = 'POST', form: 'json' | 'binary' = 'json'): void {
    const header: InvokeHeader = { t: 'invoke', id, method, path, query: { id: String(id) }, headers: {}, requestId: `req-${id}`, timeoutMs: 30_000 };
    const bytes = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (form === 'json') return void this.socket.write(encodeFrame(header, bytes));
    const writer = new FrameWriter((chunk) => this.socket.write(chunk));
    writer.binary = true;
    writer.write(header, bytes);
  }
}

/** A listening runtime socket; `accept()` resolves with the next connection a worker makes. */
export class FakeRuntime {
  readonly path: string;
  readonly connections: RuntimeConnection[] = [];
  #server: Server;
  #waiters: Array<() => void> = [];

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
    server.on('connection', (socket) => {
      this.connections.push(new RuntimeConnection(socket));
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async listen(path: string): Promise<FakeRuntime> {
    rmSync(path, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    return new FakeRuntime(path, server);
  }

  #handedOut = 0;

  /** The `n`-th connection (from 1; by default the next one not handed out yet), once it has been made. */
  async accept(n = this.#handedOut + 1): Promise<RuntimeConnection> {
    this.#handedOut = Math.max(this.#handedOut, n);
    while (this.connections.length < n) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.connections[n - 1]!;
  }

  /** Stops listening (as a runtime that stopped) and drops every connection. */
  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
