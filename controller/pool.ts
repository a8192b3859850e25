import { randomBytes, createHash } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from './clock.js';
import { NoCapacity } from './errors.js';
import type { Logger } from './logger.js';
import type { ExitReason, Sandbox } from './sandbox.js';
import type { FunctionRecord } from './types.js';
import type { StemCells } from './stem-cells.js';
import { WorkerClient } from './worker-client.js';

/** What a replica runs: code and the container-level spec fields. Equal templates are interchangeable. */
export function templateOf(fn: FunctionRecord): string {
  let template = templates.get(fn);
  if (template === undefined) {
    const { memoryMb, cpus, env } = fn.spec;
    const envText = JSON.stringify(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
    template = createHash('sha256').update(`${fn.codeDigest}|${memoryMb}|${cpus}|${envText}`).digest('hex').slice(0, 16);
    templates.set(fn, template);
  }
  return template;
}

/** The store hands out one record object per version, so this spares a hash per request. */
const templates = new WeakMap<FunctionRecord, string>();

/** Kept beside a specialised stem cell's socket: which function it now serves. */
export interface StemBinding {
  functionName: string;
  template: string;
  generation: number;
}

const STEM_BINDING_FILE = 'binding.json';

/** A start given up because its replica was retired meanwhile (a deletion, a scale-down). */
class RetiredDuringStart extends Error {
  constructor(options?: { cause: unknown }) {
    super('replica retired during start', options);
  }
}

/** How long a worker's lost connection may precede the engine seeing its container stop. */
const EXIT_REASON_WAIT_MS = 500;

/** One container of a function as the pool tracks it. */
export interface Replica {
  /** Names its socket folder (and, for a stem-born replica, its code folder). */
  key: string;
  readonly functionName: string;
  /** Born from a stem cell: its labels do not name the function (Docker labels are fixed). */
  fromStem: boolean;
  readonly template: string;
  readonly generation: number;
  containerId: string | null;
  client: WorkerClient | null;
  state: 'starting' | 'ready' | 'draining' | 'dead';
  inFlight: number;
  /** The worker's error when the function failed to load in this container. */
  loadError: string | null;
  /** Once its connection was lost: why the container stopped, as the engine tells (null: unknown). */
  exit?: Promise<ExitReason | null>;
  startedAt: number;
  lastUsedAt: number;
}

/** A replica lent to one invocation; give it back with `release`. */
export interface Lease {
  replica: Replica;
  /** True when the invocation had to wait for a container to start. */
  coldStart: boolean;
}

/** Folders and limits the pool needs. */
export interface PoolOptions {
  sandbox: Sandbox;
  clock: Clock;
  log: Logger;
  functionsDir: string;
  socketsDir: string;
  workerDir: string;
  startTimeoutMs: number;
  queueTimeoutMs: number;
  maxQueuedPerFunction: number;
  /** Generic warm containers a first start may specialise instead of starting one. */
  stemCells?: StemCells;
  /** Called when a function's actual state changed (a replica started, died or left). */
  onChange: (functionName: string) => void;
}

interface Waiter {
  fn: FunctionRecord;
  resolve(lease: Lease): void;
  reject(err: Error): void;
  timer: TimerHandle;
}

interface FunctionPool {
  replicas: Replica[];
  waiters: Waiter[];
}

/**
 * The warm containers of every function and the routing between them. The invoke path
 * borrows from here (least-loaded ready replica below `maxConcurrency`, else it queues and
 * one start is shared by the waiters); the reconciler adds and retires replicas.
 */
export class Pool {
  #opts: PoolOptions;
  #pools = new Map<string, FunctionPool>();
  #closed = false;

  constructor(options: PoolOptions) {
    this.#opts = options;
  }

  /** The replicas of a function, dead ones excluded. */
  replicas(functionName: string): readonly Replica[] {
    return this.#pools.get(functionName)?.replicas ?? [];
  }

  /** Invocations waiting for capacity. */
  queued(functionName: string): number {
    return this.#pools.get(functionName)?.waiters.length ?? 0;
  }

  /** Names of functions the pool holds replicas for. */
  functionNames(): string[] {
    return [...this.#pools.keys()];
  }

  /** Borrows a replica for one invocation, starting one if none has room. */
  acquire(fn: FunctionRecord): Promise<Lease> {
    const pool = this.#pool(fn.name);
    const replica = this.#pick(pool, fn);
    if (replica) {
      replica.inFlight += 1;
      return Promise.resolve({ replica, coldStart: false });
    }
    if (pool.waiters.length >= this.#opts.maxQueuedPerFunction) {
      return Promise.reject(new NoCapacity(`function "${fn.name}" has ${pool.waiters.length} requests waiting; try again later`));
    }
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        fn,
        resolve,
        reject,
        timer: this.#opts.clock.setTimeout(() => {
          const i = pool.waiters.indexOf(waiter);
          if (i >= 0) pool.waiters.splice(i, 1);
          reject(new NoCapacity(`no container of function "${fn.name}" could take the request within ${this.#opts.queueTimeoutMs} ms`));
        }, this.#opts.queueTimeoutMs),
      };
      pool.waiters.push(waiter);
      this.#scaleForWaiters(pool, fn);
    });
  }

  /** Gives a replica back after an invocation. */
  release(replica: Replica): void {
    replica.inFlight -= 1;
    replica.lastUsedAt = this.#opts.clock.now();
    if (replica.state === 'draining' && replica.inFlight === 0) {
      void this.#destroy(replica);
      return;
    }
    const pool = this.#pools.get(replica.functionName);
    if (pool) this.#dispatch(pool);
  }

  /** Starts one replica of `fn` and resolves when its worker has said hello. */
  async start(fn: FunctionRecord): Promise<Replica> {
    const pool = this.#pool(fn.name);
    const now = this.#opts.clock.now();
    const replica: Replica = {
      key: randomBytes(5).toString('hex'),
      functionName: fn.name,
      fromStem: false,
      template: templateOf(fn),
      generation: fn.generation,
      containerId: null,
      client: null,
      state: 'starting',
      inFlight: 0,
      loadError: null,
      startedAt: now,
      lastUsedAt: now,
    };
    pool.replicas.push(replica);
    const codeDir = join(this.#opts.functionsDir, fn.name, fn.codeDigest);
    const fromStem = await this.#fromStemCell(replica, fn, codeDir);
    if (fromStem) return fromStem;
    const socketDir = join(this.#opts.socketsDir, replica.key);
    try {
      await mkdir(socketDir, { recursive: true });
      // The worker runs as uid 65534 and must create its socket here.
      await chown(socketDir, 65534, 65534).catch(() => chmod(socketDir, 0o777));
      replica.containerId = await this.#opts.sandbox.start({
        replicaKey: replica.key,
        functionName: fn.name,
        generation: fn.generation,
        digest: fn.codeDigest,
        template: replica.template,
        codeDir,
        workerDir: this.#opts.workerDir,
        socketDir,
        memoryMb: fn.spec.memoryMb,
        cpus: fn.spec.cpus,
        env: fn.spec.env,
      });
      if (replica.state === 'dead') throw new RetiredDuringStart();
      const client = await WorkerClient.connect(join(socketDir, 'worker.sock'), this.#opts.startTimeoutMs, this.#opts.clock);
      this.#attach(replica, client);
      this.#settle(replica, fn.spec.cpus);
      this.#opts.log.info(
        `started ${fn.name} replica ${replica.key} (generation ${fn.generation}) in ${this.#opts.clock.now() - now} ms` +
          (client.loadError ? `; function failed to load: ${client.loadError}` : ''),
      );
      return replica;
    } catch (err) {
      // Retired meanwhile (its function deleted, say): whatever failed after that is no news.
      const retired = replica.state === 'dead';
      await this.#destroy(replica);
      // Retired while the engine was still creating it: the id arrived after #destroy ran.
      if (replica.containerId) await this.#opts.sandbox.remove(replica.containerId).catch(() => undefined);
      throw retired && !(err instanceof RetiredDuringStart) ? new RetiredDuringStart({ cause: err }) : err;
    }
  }

  /** Specialises a stem cell into `replica` when one of the right size is ready. */
  async #fromStemCell(replica: Replica, fn: FunctionRecord, codeDir: string): Promise<Replica | undefined> {
    const cells = this.#opts.stemCells;
    if (!cells) return undefined;
    const started = this.#opts.clock.now();
    const taken = await cells.take({ memoryMb: fn.spec.memoryMb, cpus: fn.spec.cpus }, codeDir, fn.spec.env);
    if (!taken) return undefined;
    replica.key = taken.cell.key;
    replica.containerId = taken.cell.containerId;
    replica.fromStem = true;
    if (replica.state === 'dead') {
      // Retired while specialising: the cell is ours to remove.
      taken.cell.client.close();
      await this.#opts.sandbox.remove(taken.cell.containerId).catch(() => undefined);
      await this.#removeFolders(replica.key);
      throw new RetiredDuringStart();
    }
    this.#attach(replica, taken.cell.client);
    // Docker labels cannot change: this file tells a restarted runtime whose container it is,
    // and the new name tells `docker ps` (in the background: it is not on the invoke's path).
    const binding: StemBinding = { functionName: fn.name, template: replica.template, generation: fn.generation };
    await writeFile(join(this.#opts.socketsDir, replica.key, STEM_BINDING_FILE), JSON.stringify(binding)).catch(() => undefined);
    void this.#opts.sandbox
      .assign(taken.cell.containerId, fn.name, replica.key)
      .catch((err: unknown) => {
        if (replica.state !== 'dead') this.#opts.log.warn(`could not rename the stem cell of ${fn.name} replica ${replica.key}: ${(err as Error).message}`);
      });
    this.#opts.log.info(
      `specialised a stem cell as ${fn.name} replica ${replica.key} (generation ${fn.generation}) in ${this.#opts.clock.now() - started} ms` +
        (taken.loadError ? `; function failed to load: ${taken.loadError}` : ''),
    );
    return replica;
  }

  /** The function a specialised stem cell was given, as recorded beside its socket. */
  async stemBinding(replicaKey: string): Promise<StemBinding | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#opts.socketsDir, replicaKey, STEM_BINDING_FILE), 'utf8')) as StemBinding;
    } catch {
      return undefined;
    }
  }

  /** Takes over a running container found after a restart, if its worker answers. */
  async adopt(fn: FunctionRecord, containerId: string, replicaKey: string): Promise<Replica> {
    const pool = this.#pool(fn.name);
    const now = this.#opts.clock.now();
    const replica: Replica = {
      key: replicaKey,
      functionName: fn.name,
      fromStem: false,
      template: templateOf(fn),
      generation: fn.generation,
      containerId,
      client: null,
      state: 'starting',
      inFlight: 0,
      loadError: null,
      startedAt: now,
      lastUsedAt: now,
    };
    pool.replicas.push(replica);
    try {
      const client = await WorkerClient.connect(join(this.#opts.socketsDir, replicaKey, 'worker.sock'), 2000, this.#opts.clock);
      this.#attach(replica, client);
      // Settled already, unless the previous run stopped between start and settle.
      this.#settle(replica, fn.spec.cpus);
      this.#opts.log.info(`adopted ${fn.name} replica ${replicaKey}`);
      return replica;
    } catch (err) {
      await this.#destroy(replica);
      throw err;
    }
  }

  /**
   * Ends a replica's start-up CPU boost in the background: the engine takes ~40 ms for it,
   * too long to wait for on a cold start, and the replica serves meanwhile. A replica whose
   * limit cannot be set is removed, so no container keeps more CPU than its spec.
   */
  #settle(replica: Replica, cpus: number): void {
    const id = replica.containerId;
    if (!id) return;
    this.#opts.sandbox.settle(id, cpus).catch((err: Error) => {
      if (replica.state === 'dead') return;
      this.#opts.log.error(`removing ${replica.functionName} replica ${replica.key}: could not set its CPU limit: ${err.message}`);
      void this.#destroy(replica).then(() => this.#opts.onChange(replica.functionName));
    });
  }

  /** Stops routing to a replica; it is removed once its in-flight requests finish. */
  retire(replica: Replica): void {
    if (replica.state === 'dead' || replica.state === 'draining') return;
    if (replica.state === 'starting' || replica.inFlight === 0) {
      void this.#destroy(replica);
      return;
    }
    replica.state = 'draining';
  }

  /** Removes a replica at once; its in-flight requests fail. For the reconciler, which knows. */
  async kill(replica: Replica): Promise<void> {
    await this.#destroy(replica);
  }

  /**
   * Drops a replica whose container stopped by itself (the engine lists it as not running),
   * asking the engine why first: the invocations it fails tell their callers.
   */
  async lost(replica: Replica): Promise<void> {
    if (replica.state === 'dead') return;
    this.#askWhyItStopped(replica, 0);
    await this.#destroy(replica);
  }

  /**
   * Records why the replica's container stopped, asked before the container is removed (which
   * would take the answer with it); once per replica.
   */
  #askWhyItStopped(replica: Replica, waitMs: number): Promise<ExitReason | null> {
    replica.exit ??= replica.containerId ? this.#opts.sandbox.exitReason(replica.containerId, waitMs) : Promise.resolve(null);
    return replica.exit;
  }

  /**
   * Removes a replica the invoke path gave up on (a handler past its timeout may be blocking
   * its event loop) and tells the reconciler, which starts a replacement if one is wanted. The
   * engine's event would not: a stem-born container's labels name no function.
   */
  async discard(replica: Replica): Promise<void> {
    if (replica.state === 'dead') return;
    await this.#destroy(replica);
    this.#opts.onChange(replica.functionName);
  }

  /** Rejects the waiters of a function, e.g. because it cannot start containers. */
  failWaiters(functionName: string, err: Error): void {
    const pool = this.#pools.get(functionName);
    if (!pool) return;
    for (const w of pool.waiters.splice(0)) {
      this.#opts.clock.clearTimeout(w.timer);
      w.reject(err);
    }
  }

  /**
   * Lets go of every container without removing it (the next start adopts them): closes the
   * connections and stops reacting to their loss.
   */
  close(): void {
    this.#closed = true;
    for (const name of this.#pools.keys()) this.failWaiters(name, new NoCapacity('the runtime is stopping'));
    for (const pool of this.#pools.values()) for (const r of pool.replicas) r.client?.close();
  }

  /** Drops the bookkeeping of a function that has no replicas left. */
  forgetIfEmpty(functionName: string): void {
    const pool = this.#pools.get(functionName);
    if (pool && pool.replicas.length === 0 && pool.waiters.length === 0) this.#pools.delete(functionName);
  }

  #pool(name: string): FunctionPool {
    let pool = this.#pools.get(name);
    if (!pool) {
      pool = { replicas: [], waiters: [] };
      this.#pools.set(name, pool);
    }
    return pool;
  }

  /**
   * The least-loaded ready replica with room. Replicas of the current template are preferred;
   * during a rolling update, older ones keep serving until new ones are ready.
   */
  #pick(pool: FunctionPool, fn: FunctionRecord): Replica | undefined {
    const template = templateOf(fn);
    // Healthy current first, then healthy older ones (a rollout in progress, or new code that
    // fails to load), then whatever is left so a broken function still answers its error.
    const rank = (r: Replica) => (r.loadError ? 2 : 0) + (r.template === template ? 0 : 1);
    let best: Replica | undefined;
    let bestRank = Infinity;
    for (const r of pool.replicas) {
      if (r.state !== 'ready' || r.inFlight >= fn.spec.maxConcurrency) continue;
      const rk = rank(r);
      if (rk < bestRank || (rk === bestRank && r.inFlight < best!.inFlight)) {
        best = r;
        bestRank = rk;
      }
    }
    return best;
  }

  /** Starts a replica when the waiters outnumber the room of the ones already starting. */
  #scaleForWaiters(pool: FunctionPool, fn: FunctionRecord): void {
    const template = templateOf(fn);
    const starting = pool.replicas.filter((r) => r.state === 'starting' && r.template === template).length;
    const live = pool.replicas.filter((r) => r.state === 'starting' || r.state === 'ready').length;
    if (pool.waiters.length <= starting * fn.spec.maxConcurrency || live >= fn.spec.maxReplicas) return;
    this.start(fn).then(
      () => this.#opts.onChange(fn.name),
      (err: Error) => {
        if (err instanceof RetiredDuringStart) this.#opts.log.debug(`a container of ${fn.name} was retired while it started`);
        else this.#opts.log.warn(`could not start a container for ${fn.name}: ${err.message}`);
        const stillStarting = pool.replicas.some((r) => r.state === 'starting');
        if (!stillStarting && !pool.replicas.some((r) => r.state === 'ready')) this.failWaiters(fn.name, err);
        this.#opts.onChange(fn.name);
      },
    );
  }

  #attach(replica: Replica, client: WorkerClient): void {
    replica.client = client;
    replica.loadError = client.loadError;
    client.onClose(() => {
      if (replica.state === 'dead' || this.#closed) return;
      const exit = this.#askWhyItStopped(replica, EXIT_REASON_WAIT_MS);
      void exit.then((why) => {
        const ended = why === null ? 'lost its connection' : why.oomKilled ? 'was killed at its memory limit' : `exited with code ${why.exitCode}`;
        this.#opts.log.warn(`${replica.functionName} replica ${replica.key} ${ended}; replacing it`);
      });
      void this.#destroy(replica).then(() => this.#opts.onChange(replica.functionName));
    });
    if (replica.state === 'starting') replica.state = 'ready';
    else if (replica.state === 'dead') {
      client.close();
      return;
    }
    const pool = this.#pools.get(replica.functionName);
    if (pool) this.#dispatch(pool);
  }

  /** Hands waiting invocations to replicas with room. */
  #dispatch(pool: FunctionPool): void {
    while (pool.waiters.length > 0) {
      const waiter = pool.waiters[0]!;
      const replica = this.#pick(pool, waiter.fn);
      if (!replica) break;
      pool.waiters.shift();
      this.#opts.clock.clearTimeout(waiter.timer);
      replica.inFlight += 1;
      waiter.resolve({ replica, coldStart: true });
    }
  }

  async #destroy(replica: Replica): Promise<void> {
    if (replica.state === 'dead') return;
    this.#opts.log.debug(`removing ${replica.functionName} replica ${replica.key} (was ${replica.state}, ${replica.inFlight} in flight)`);
    replica.state = 'dead';
    const pool = this.#pools.get(replica.functionName);
    if (pool) pool.replicas = pool.replicas.filter((r) => r !== replica);
    replica.client?.close();
    await replica.exit;
    try {
      if (replica.containerId) await this.#opts.sandbox.remove(replica.containerId);
    } catch (err) {
      this.#opts.log.warn(`could not remove container of ${replica.functionName}: ${(err as Error).message}`);
    }
    await this.#removeFolders(replica.key);
  }

  async #removeFolders(key: string): Promise<void> {
    await rm(join(this.#opts.socketsDir, key), { recursive: true, force: true });
    if (this.#opts.stemCells) await rm(join(this.#opts.stemCells.cellsDir, key), { recursive: true, force: true });
  }
}
