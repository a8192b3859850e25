import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Clock } from '../support/clock.js';
import { copyVersion } from '../code/copy-version.js';
import type { Logger } from '../support/logger.js';
import { listenForReplica, makeMountedFolder, makeSecretsFolder, removeReplicaFolders, socketDirOf } from './replica-socket.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { DEFAULT_FRAME_BUDGET, FrameBudget } from './frame-budget.js';
import type { FunctionEntry, WorkerClient } from './worker-client.js';
import type { WorkerListener } from './worker-listener.js';

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
  /**
   * Host folder mounted read-only at /var/glambdar/secrets, empty until the cell is specialised:
   * then its function's secrets go here, and nothing else. Null without a secrets mount.
   */
  readonly secretsDir: string | null;
}

/** Folders and counts stem cells need. */
export interface StemCellOptions {
  sandbox: Sandbox;
  clock: Clock;
  log: Logger;
  cellsDir: string;
  socketsDir: string;
  workerDir: string;
  /** Where each cell's own secrets folder is made; without it cells have no secrets mount. */
  secretMountsDir?: string;
  startTimeoutMs: number;
  /** Ready cells kept per size; 0 turns stem cells off. */
  perSize: number;
  /** Sizes kept warm from the start (the spec's default size). */
  initialSizes: CellSize[];
  /** Partial frames of every connection are counted here (shared with the pool). */
  budget?: FrameBudget;
}

const sizeKey = (s: CellSize) => `${s.memoryMb}/${s.cpus}`;

/**
 * A small pool of generic, already-started containers per size. A function's first start
 * takes one: its code is copied into the cell's own folder (mounted read-only) and the worker
 * loads it, so a cold start costs a copy and a `require` instead of a container start. The pool
 * that takes a cell owns its container from then on; this pool refills in the background.
 * Cells are hardened exactly like every other container (the same Sandbox.start).
 */
export class StemCells {
  #o: StemCellOptions;
  #ready = new Map<string, StemCell[]>();
  /** The start in progress per size (one at a time), so stop() can wait for it. */
  #starting = new Map<string, Promise<void>>();
  #stopped = false;
  #budget: FrameBudget;
  /** Keys of cells being started: their folders exist before the cell is ready. */
  #startingKeys = new Set<string>();

  constructor(options: StemCellOptions) {
    this.#o = options;
    this.#budget = options.budget ?? new FrameBudget(DEFAULT_FRAME_BUDGET);
  }

  /** Where cells' code folders live (`<cellsDir>/<key>`). */
  get cellsDir(): string {
    return this.#o.cellsDir;
  }

  /** Starts filling the pool for the initial sizes. */
  start(): void {
    for (const size of this.#o.initialSizes) this.#ensure(size);
  }

  /** Keys of every cell this pool holds, ready or starting: their folders are in use. */
  keys(): Set<string> {
    const keys = new Set(this.#startingKeys);
    for (const cells of this.#ready.values()) for (const cell of cells) keys.add(cell.key);
    return keys;
  }

  /** Ready cells, all sizes. */
  get readyCount(): number {
    let n = 0;
    for (const cells of this.#ready.values()) n += cells.length;
    return n;
  }

  /**
   * Hands out a ready cell of `size`, or undefined when none is ready (and starts keeping that
   * size warm for next time). The caller owns the cell's container from then on: it removes it
   * (and its folders) when it is done with it, or when {@link specialize} fails.
   *
   * A cell handed out is replaced when the caller calls {@link refill}, once the cold start it
   * serves has answered: the engine's create and start of the next cell (tens of ms of CPU in
   * dockerd, containerd and runc) ran beside the specialisation and the first invocation, on
   * the same two cores, and made them slower.
   */
  take(size: CellSize): StemCell | undefined {
    if (this.#o.perSize <= 0 || this.#stopped) return undefined;
    const cell = this.#ready.get(sizeKey(size))?.shift();
    if (cell === undefined) this.#ensure(size);
    return cell;
  }

  /** Starts replacing the cells of `size` handed out by {@link take}. */
  refill(size: CellSize): void {
    this.#ensure(size);
  }

  /**
   * Copies `codeDir` into a taken cell and loads it with `env` (and its entry: `spec.handler`
   * and `spec.interface`). Resolves with the load error,
   * or null when the handler is ready; rejects (FunctionLoadFailed) when the load does not end
   * within the start timeout, as a function that loops at load would.
   */
  async specialize(cell: StemCell, codeDir: string, env: Record<string, string>, entry: FunctionEntry): Promise<string | null> {
    await copyVersion(codeDir, cell.codeDir);
    return cell.client.specialize(env, entry, this.#o.startTimeoutMs);
  }

  /** Removes every ready cell and any still starting, and stops refilling. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const all = [...this.#ready.values()].flat();
    this.#ready.clear();
    // A cell that finishes starting now is discarded by its own start (it sees #stopped).
    await Promise.all([...all.map((cell) => this.discard(cell)), ...this.#starting.values()]);
  }

  /** Removes a cell's container and folders. */
  async discard(cell: StemCell): Promise<void> {
    cell.client.close();
    await this.#o.sandbox.remove(cell.containerId).catch(() => undefined);
    await removeReplicaFolders(this.#o.socketsDir, this.#o.cellsDir, cell.key, this.#o.secretMountsDir);
  }

  #ensure(size: CellSize): void {
    if (this.#o.perSize <= 0 || this.#stopped) return;
    const key = sizeKey(size);
    // One start at a time per size: refilling must not compete with real cold starts.
    if (this.#starting.has(key) || (this.#ready.get(key)?.length ?? 0) >= this.#o.perSize) return;
    const starting = this.#startCell(size).then(
      async (cell) => {
        this.#starting.delete(key);
        if (this.#stopped) {
          await this.discard(cell);
          this.#startingKeys.delete(cell.key);
          return;
        }
        const cells = this.#ready.get(key) ?? [];
        cells.push(cell);
        this.#ready.set(key, cells);
        this.#startingKeys.delete(cell.key);
        cell.client.onClose(() => {
          const list = this.#ready.get(key);
          if (list?.includes(cell)) {
            this.#ready.set(key, list.filter((c) => c !== cell));
            void this.discard(cell);
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
    this.#startingKeys.add(key);
    try {
      // Its key stays among the starting ones until the cell is among the ready ones (#ensure).
      return await this.#bootCell(key, size);
    } catch (err) {
      this.#startingKeys.delete(key);
      throw err;
    }
  }

  async #bootCell(key: string, size: CellSize): Promise<StemCell> {
    const codeDir = join(this.#o.cellsDir, key);
    await makeMountedFolder(codeDir);
    let listener: WorkerListener | undefined;
    let containerId: string | undefined;
    try {
      const secretsDir = this.#o.secretMountsDir === undefined ? null : await makeSecretsFolder(this.#o.secretMountsDir, key);
      listener = await listenForReplica(this.#o.socketsDir, key, { clock: this.#o.clock, budget: this.#budget, budgetKey: '' });
      containerId = await this.#o.sandbox.start({
        replicaKey: key,
        functionName: '',
        generation: 0,
        digest: '',
        template: '',
        stem: true,
        codeDir,
        workerDir: this.#o.workerDir,
        socketDir: socketDirOf(this.#o.socketsDir, key),
        ...(secretsDir === null ? {} : { secretsDir }),
        memoryMb: size.memoryMb,
        cpus: size.cpus,
        env: {},
      });
      // Its start-up boost stays until the function it is given has answered once (see
      // ReplicaLifecycle.startForWaiters): at the spec's CPUs the load and first invocation
      // were throttled, 0-2.7 ms of a cold start here. An idle cell runs no code.
      const client = await listener.accept(this.#o.startTimeoutMs, this.#o.clock);
      return { key, containerId, client, codeDir, secretsDir };
    } catch (err) {
      listener?.close();
      if (containerId) await this.#o.sandbox.remove(containerId).catch(() => undefined);
      await removeReplicaFolders(this.#o.socketsDir, this.#o.cellsDir, key, this.#o.secretMountsDir);
      throw err;
    }
  }
}
