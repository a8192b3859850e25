import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Clock } from '../support/clock.js';
import { ContainerDied, SandboxUnavailable } from '../support/errors.js';
import { WorkerClient, type ClientContext } from './worker-client.js';

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
