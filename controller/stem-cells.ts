import { randomBytes } from 'node:crypto';
import { chmod, chown, cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Sandbox } from './sandbox.js';
import { WorkerClient } from './worker-client.js';

/** The container-level sizes a stem cell is made for; a function takes one of its own size. */
export interface CellSize {
  memoryMb: number;
  cpus: number;
}

/** A generic warm container waiting for a function. */
export interface StemCell {
  readonly key: string;
  readonly containerId: string;
  readonly client: WorkerClient;
  /** Host folder mounted read-only at /fn in the container; the function's code goes here. */
  readonly codeDir: string;
}

/** Folders and counts stem cells need. */
export interface StemCellOptions {
  sandbox: Sandbox;
  clock: Clock;
  log: Logger;
  cellsDir: string;
  socketsDir: string;
  workerDir: string;
  startTimeoutMs: number;
  /** Ready cells kept per size; 0 turns stem cells off. */
  perSize: number;
  /** Sizes kept warm from the start (the spec's default size). */
  initialSizes: CellSize[];
}

const sizeKey = (s: CellSize) => `${s.memoryMb}/${s.cpus}`;

/**
 * A small pool of generic, already-started containers per size. A function's first start
 * takes one: its code is copied into the cell's own mounted folder and the worker loads it,
 * so a cold start costs a copy and a `require` instead of a container start. The cell then
 * belongs to that function for life; the pool refills in the background. Cells are hardened
 * exactly like every other container (the same Sandbox.start).
 */
export class StemCells {
  #o: StemCellOptions;
  #ready = new Map<string, StemCell[]>();
  /** The start in progress per size (one at a time), so stop() can wait for it. */
  #starting = new Map<string, Promise<void>>();
  #sizes = new Map<string, CellSize>();
  #stopped = false;

  constructor(options: StemCellOptions) {
    this.#o = options;
  }

  /** Where cells' code folders live (`<cellsDir>/<key>`). */
  get cellsDir(): string {
    return this.#o.cellsDir;
  }

  /** Starts filling the pool for the initial sizes. */
  start(): void {
    for (const size of this.#o.initialSizes) this.#ensure(size);
  }

  /** Ready cells, all sizes. */
  get readyCount(): number {
    let n = 0;
    for (const cells of this.#ready.values()) n += cells.length;
    return n;
  }

  /**
   * Specialises a ready cell of `size` for a function: copies `codeDir` in and loads it with
   * `env`. Returns undefined when no cell of that size is ready (and starts keeping that size
   * warm for next time). The caller owns the returned cell's container from then on.
   */
  async take(size: CellSize, codeDir: string, env: Record<string, string>): Promise<{ cell: StemCell; loadError: string | null } | undefined> {
    if (this.#o.perSize <= 0 || this.#stopped) return undefined;
    const cells = this.#ready.get(sizeKey(size));
    const cell = cells?.shift();
    this.#ensure(size);
    if (!cell) return undefined;
    try {
      await cp(codeDir, cell.codeDir, { recursive: true });
      const loadError = await cell.client.specialize(env);
      return { cell, loadError };
    } catch (err) {
      this.#o.log.warn(`stem cell ${cell.key} could not be specialised: ${(err as Error).message}`);
      await this.#discard(cell);
      return undefined;
    }
  }

  /** Removes every ready cell and any still starting, and stops refilling. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const all = [...this.#ready.values()].flat();
    this.#ready.clear();
    // A cell that finishes starting now is discarded by its own start (it sees #stopped).
    await Promise.all([...all.map((cell) => this.#discard(cell)), ...this.#starting.values()]);
  }

  #ensure(size: CellSize): void {
    if (this.#o.perSize <= 0 || this.#stopped) return;
    const key = sizeKey(size);
    this.#sizes.set(key, size);
    // One start at a time per size: refilling must not compete with real cold starts.
    if (this.#starting.has(key) || (this.#ready.get(key)?.length ?? 0) >= this.#o.perSize) return;
    const starting = this.#startCell(size).then(
      async (cell) => {
        this.#starting.delete(key);
        if (this.#stopped) return this.#discard(cell);
        const cells = this.#ready.get(key) ?? [];
        cells.push(cell);
        this.#ready.set(key, cells);
        cell.client.onClose(() => {
          const list = this.#ready.get(key);
          if (list?.includes(cell)) {
            this.#ready.set(key, list.filter((c) => c !== cell));
            void this.#discard(cell);
            this.#ensure(size);
          }
        });
        this.#ensure(size);
      },
      (err: Error) => {
        this.#starting.delete(key);
        this.#o.log.warn(`could not start a stem cell: ${err.message}`);
        // Back off: try again later, not at once (an engine that is down fails every start fast).
        this.#o.clock.setTimeout(() => this.#ensure(size), 5000);
      },
    );
    this.#starting.set(key, starting);
  }

  async #startCell(size: CellSize): Promise<StemCell> {
    const key = randomBytes(5).toString('hex');
    const socketDir = join(this.#o.socketsDir, key);
    const codeDir = join(this.#o.cellsDir, key);
    await mkdir(socketDir, { recursive: true });
    await chown(socketDir, 65534, 65534).catch(() => chmod(socketDir, 0o777));
    await mkdir(codeDir, { recursive: true, mode: 0o755 });
    let containerId: string | undefined;
    try {
      containerId = await this.#o.sandbox.start({
        replicaKey: key,
        functionName: '',
        generation: 0,
        digest: '',
        template: '',
        stem: true,
        codeDir,
        workerDir: this.#o.workerDir,
        socketDir,
        memoryMb: size.memoryMb,
        cpus: size.cpus,
        env: {},
      });
      const client = await WorkerClient.connect(join(socketDir, 'worker.sock'), this.#o.startTimeoutMs, this.#o.clock);
      try {
        // Off the critical path, so the boost ends before any function code can run here.
        await this.#o.sandbox.settle(containerId, size.cpus);
      } catch (err) {
        client.close();
        throw err;
      }
      return { key, containerId, client, codeDir };
    } catch (err) {
      if (containerId) await this.#o.sandbox.remove(containerId).catch(() => undefined);
      await rm(socketDir, { recursive: true, force: true });
      await rm(codeDir, { recursive: true, force: true });
      throw err;
    }
  }

  async #discard(cell: StemCell): Promise<void> {
    cell.client.close();
    await this.#o.sandbox.remove(cell.containerId).catch(() => undefined);
    await rm(join(this.#o.socketsDir, cell.key), { recursive: true, force: true });
    await rm(cell.codeDir, { recursive: true, force: true });
  }
}
