import { randomBytes, createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../support/clock.js';
import { ContainerDied, FunctionLoadFailed, GlambdarError, NoCapacity, SandboxUnavailable } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { listenForReplica, removeReplicaFolders, socketDirOf } from './replica-socket.js';
import type { ExitReason, Sandbox } from '../sandbox/sandbox.js';
import type { FunctionRecord } from '../state/records.js';
import type { StemCells } from './stem-cells.js';
import { DEFAULT_FRAME_BUDGET, FrameBudget, type WorkerClient, type WorkerListener } from './worker-client.js';

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

/** A start given up because its replica was retired meanwhile (a deletion, a scale-down). */
class RetiredDuringStart extends Error {
  constructor(options?: { cause: unknown }) {
    super('replica retired during start', options);
  }
}

/** How long a worker's lost connection may precede the engine seeing its container stop. */
const EXIT_REASON_WAIT_MS = 500;
/** How long an adopted container's worker may take to connect again after a restart. */
const ADOPT_TIMEOUT_MS = 5000;
/** First and longest wait before another start for waiters after a failed one. */
const START_BACKOFF_BASE_MS = 1000;
const START_BACKOFF_MAX_MS = 5 * 60_000;

/** One container of a function as the pool tracks it. */
export interface Replica {
  /** Names its socket folder (and, for a stem-born replica, its code folder). */
  key: string;
  readonly functionName: string;
  /**
   * Born from a stem cell: its labels do not name the function (Docker labels are fixed), so
   * the reconciler replaces it with a labelled container as soon as it can.
   */
  fromStem: boolean;
  readonly template: string;
  readonly generation: number;
  containerId: string | null;
  client: WorkerClient | null;
  /** While starting: where its worker will connect. */
  listener: WorkerListener | null;
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
  /** Generic warm containers a start for waiting requests may specialise instead of starting one. */
  stemCells?: StemCells;
  /** Partial frames held from workers, per function and in total (shared with the stem cells). */
  budget?: FrameBudget;
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

/** Starts that failed in a row for a function, and until when waiters start no other. */
interface StartFailure {
  count: number;
  until: number;
  error: Error;
}

/**
 * The warm containers of every function and the routing between them. The invoke path
 * borrows from here (least-loaded ready replica below `maxConcurrency`, else it queues and
 * one start is shared by the waiters); the reconciler adds and retires replicas.
 */
export class Pool {
  #opts: PoolOptions;
  #budget: FrameBudget;
  #pools = new Map<string, FunctionPool>();
  #startFailures = new Map<string, StartFailure>();
  #closed = false;

  constructor(options: PoolOptions) {
    this.#opts = options;
    this.#budget = options.budget ?? new FrameBudget(DEFAULT_FRAME_BUDGET);
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

  /** How long the function's next start should wait after failed ones (0: none failed, or the back-off has passed). */
  startBackoffMs(functionName: string): number {
    const failure = this.#startFailures.get(functionName);
    return failure ? Math.max(0, failure.until - this.#opts.clock.now()) : 0;
  }

  /** Why the function's last start failed, while no start has succeeded since. */
  startError(functionName: string): Error | null {
    return this.#startFailures.get(functionName)?.error ?? null;
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

  /**
   * Starts one labelled container of `fn` and resolves when its worker has said hello. This is
   * what the reconciler uses; only a start for waiting requests may take a stem cell.
   */
  async start(fn: FunctionRecord): Promise<Replica> {
    const replica = this.#newReplica(fn, randomBytes(5).toString('hex'));
    try {
      await this.#startLabelled(replica, fn);
      this.#startFailures.delete(fn.name);
      return replica;
    } catch (err) {
      throw await this.#startFailed(replica, fn, err);
    }
  }

  async #startLabelled(replica: Replica, fn: FunctionRecord): Promise<void> {
    const started = this.#opts.clock.now();
    replica.listener = await listenForReplica(this.#opts.socketsDir, replica.key, this.#context(fn.name));
    if (isRetired(replica)) throw new RetiredDuringStart();
    replica.containerId = await this.#opts.sandbox.start({
      replicaKey: replica.key,
      functionName: fn.name,
      generation: fn.generation,
      digest: fn.codeDigest,
      template: replica.template,
      codeDir: join(this.#opts.functionsDir, fn.name, fn.codeDigest),
      workerDir: this.#opts.workerDir,
      socketDir: socketDirOf(this.#opts.socketsDir, replica.key),
      memoryMb: fn.spec.memoryMb,
      cpus: fn.spec.cpus,
      env: fn.spec.env,
    });
    if (replica.state === 'dead') throw new RetiredDuringStart();
    let client: WorkerClient;
    try {
      client = await replica.listener.accept(this.#opts.startTimeoutMs, this.#opts.clock);
    } catch (err) {
      throw await this.#whyNoHello(replica, err);
    }
    this.#attach(replica, client);
    this.#settle(replica, fn.spec.cpus);
    this.#opts.log.info(
      `started ${fn.name} replica ${replica.key} (generation ${fn.generation}) in ${this.#opts.clock.now() - started} ms` +
        (client.loadError ? `; function failed to load: ${client.loadError}` : ''),
    );
  }

  /** A container that never connected: it exited (the engine says how), or it runs but its worker is stuck. */
  async #whyNoHello(replica: Replica, err: unknown): Promise<unknown> {
    if (replica.state === 'dead' || !replica.containerId || !(err instanceof SandboxUnavailable)) return err;
    const exit = await this.#opts.sandbox.exitReason(replica.containerId, 0).catch(() => null);
    if (exit) return new ContainerDied(`the function container exited with code ${exit.exitCode} during start${exit.oomKilled ? ' (killed at its memory limit)' : ''}`);
    return new FunctionLoadFailed(
      `the function container did not connect within ${this.#opts.startTimeoutMs} ms: node did not boot, or the function blocks at load (an endless loop at the top of its module?)`,
      { cause: err },
    );
  }

  /** Starts one replica for waiting requests: from a stem cell when one of its size is ready. */
  async #startForWaiters(fn: FunctionRecord): Promise<Replica> {
    const cell = this.#opts.stemCells?.take({ memoryMb: fn.spec.memoryMb, cpus: fn.spec.cpus });
    if (!cell) return this.start(fn);
    const replica = this.#newReplica(fn, cell.key);
    // The pool owns the cell's container from here: a deletion during the load removes it.
    replica.containerId = cell.containerId;
    replica.client = cell.client;
    replica.fromStem = true;
    cell.client.budgetKey = fn.name;
    const started = this.#opts.clock.now();
    try {
      const loadError = await this.#opts.stemCells!.specialize(cell, join(this.#opts.functionsDir, fn.name, fn.codeDigest), fn.spec.env);
      if (replica.state === 'dead') throw new RetiredDuringStart();
      this.#attach(replica, cell.client);
      this.#startFailures.delete(fn.name);
      // Labels cannot change: the new name tells `docker ps` whose container it is until the
      // reconciler has replaced it with a labelled one (in the background: not on the invoke's path).
      void this.#opts.sandbox.assign(cell.containerId, fn.name, replica.key).catch((err: unknown) => {
        if (replica.state !== 'dead') this.#opts.log.warn(`could not rename the stem cell of ${fn.name} replica ${replica.key}: ${(err as Error).message}`);
      });
      this.#opts.log.info(
        `specialised a stem cell as ${fn.name} replica ${replica.key} (generation ${fn.generation}) in ${this.#opts.clock.now() - started} ms` +
          (loadError ? `; function failed to load: ${loadError}` : ''),
      );
      return replica;
    } catch (err) {
      throw await this.#startFailed(replica, fn, err);
    }
  }

  /** Cleans up after a failed start and says what to throw; counts the failure unless it was a retirement. */
  async #startFailed(replica: Replica, fn: FunctionRecord, err: unknown): Promise<Error> {
    // Retired meanwhile (its function deleted, say): whatever failed after that is no news.
    const retired = replica.state === 'dead';
    // Forced: a replica retired while the engine created it got its container id after that removal.
    await this.#destroy(replica, true);
    if (retired) return err instanceof RetiredDuringStart ? err : new RetiredDuringStart({ cause: err });
    const error = err instanceof Error ? err : new Error(String(err));
    // An engine that is away costs nothing to ask again; a container that came up and failed
    // (it hung at load, or exited) held a start timeout's worth of resources: that backs off.
    if (error instanceof SandboxUnavailable) return error;
    const previous = this.#startFailures.get(fn.name);
    const count = (previous?.count ?? 0) + 1;
    const wait = Math.min(START_BACKOFF_BASE_MS * 2 ** (count - 1), START_BACKOFF_MAX_MS);
    this.#startFailures.set(fn.name, { count, until: this.#opts.clock.now() + wait, error });
    // Waiting requests with no other container to wait for are told now, not at their queue timeout.
    const pool = this.#pools.get(fn.name);
    if (pool && !pool.replicas.some((r) => r.state === 'starting' || r.state === 'ready')) this.failWaiters(fn.name, asCallerError(error));
    return error;
  }

  #newReplica(fn: FunctionRecord, key: string): Replica {
    const now = this.#opts.clock.now();
    const replica: Replica = {
      key,
      functionName: fn.name,
      fromStem: false,
      template: templateOf(fn),
      generation: fn.generation,
      containerId: null,
      client: null,
      listener: null,
      state: 'starting',
      inFlight: 0,
      loadError: null,
      startedAt: now,
      lastUsedAt: now,
    };
    this.#pool(fn.name).replicas.push(replica);
    return replica;
  }

  #context(functionName: string) {
    return { clock: this.#opts.clock, budget: this.#budget, budgetKey: functionName };
  }

  /**
   * Takes over a running labelled container found after a restart: listens on its socket
   * again and waits for its worker to reconnect. Identity comes from the container's labels,
   * set by the runtime at create time, and from which socket the worker reached.
   */
  async adopt(fn: FunctionRecord, containerId: string, replicaKey: string): Promise<Replica> {
    const replica = this.#newReplica(fn, replicaKey);
    replica.containerId = containerId;
    try {
      replica.listener = await listenForReplica(this.#opts.socketsDir, replicaKey, this.#context(fn.name));
      const client = await replica.listener.accept(Math.min(ADOPT_TIMEOUT_MS, this.#opts.startTimeoutMs), this.#opts.clock);
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
    for (const pool of this.#pools.values()) {
      for (const r of pool.replicas) {
        r.listener?.close();
        r.client?.close();
      }
    }
  }

  /** Drops the bookkeeping of a function that has no replicas left. */
  forgetIfEmpty(functionName: string): void {
    const pool = this.#pools.get(functionName);
    if (pool && pool.replicas.length === 0 && pool.waiters.length === 0) {
      this.#pools.delete(functionName);
      this.#startFailures.delete(functionName);
    }
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

  /**
   * Starts a replica when the waiters outnumber the room of the ones already starting. After a
   * failed start the next waits out a back-off (1 s, doubling up to 5 min, like a crash loop):
   * meanwhile waiters with no container to wait for are told the start error at once.
   */
  #scaleForWaiters(pool: FunctionPool, fn: FunctionRecord): void {
    const template = templateOf(fn);
    const starting = pool.replicas.filter((r) => r.state === 'starting' && r.template === template).length;
    const live = pool.replicas.filter((r) => r.state === 'starting' || r.state === 'ready').length;
    if (pool.waiters.length <= starting * fn.spec.maxConcurrency || live >= fn.spec.maxReplicas) return;
    const failure = this.#startFailures.get(fn.name);
    if (failure && this.#opts.clock.now() < failure.until) {
      if (live === 0) this.failWaiters(fn.name, failure.error);
      return;
    }
    this.#startForWaiters(fn).then(
      () => this.#opts.onChange(fn.name),
      (err: Error) => {
        if (err instanceof RetiredDuringStart) this.#opts.log.debug(`a container of ${fn.name} was retired while it started`);
        else this.#opts.log.warn(`could not start a container for ${fn.name}: ${err.message}`);
        const stillStarting = pool.replicas.some((r) => r.state === 'starting');
        if (!stillStarting && !pool.replicas.some((r) => r.state === 'ready')) this.failWaiters(fn.name, asCallerError(err));
        this.#opts.onChange(fn.name);
      },
    );
  }

  #attach(replica: Replica, client: WorkerClient): void {
    replica.client = client;
    replica.listener = null;
    replica.loadError = client.loadError;
    client.onClose(() => {
      if (replica.state === 'dead' || this.#closed) return;
      const exit = this.#askWhyItStopped(replica, EXIT_REASON_WAIT_MS);
      void exit.then((why) => {
        const ended = why === null ? client.closeReason : why.oomKilled ? 'was killed at its memory limit' : `exited with code ${why.exitCode}`;
        this.#opts.log.warn(`${replica.functionName} replica ${replica.key}: ${ended}; replacing it`);
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

  /** Removes a replica: its container, connection and folders. `force` also removes a replica already marked dead. */
  async #destroy(replica: Replica, force = false): Promise<void> {
    if (replica.state === 'dead' && !force) return;
    this.#opts.log.debug(`removing ${replica.functionName} replica ${replica.key} (was ${replica.state}, ${replica.inFlight} in flight)`);
    replica.state = 'dead';
    const pool = this.#pools.get(replica.functionName);
    if (pool) pool.replicas = pool.replicas.filter((r) => r !== replica);
    replica.listener?.close();
    replica.client?.close();
    await replica.exit;
    try {
      if (replica.containerId) await this.#opts.sandbox.remove(replica.containerId);
    } catch (err) {
      this.#opts.log.warn(`could not remove container of ${replica.functionName}: ${(err as Error).message}`);
    }
    await removeReplicaFolders(this.#opts.socketsDir, this.#opts.stemCells?.cellsDir ?? null, replica.key);
  }
}

/** True once a replica was retired or removed (state changes under awaits, which narrowing does not see). */
function isRetired(replica: Replica): boolean {
  return replica.state === 'dead';
}

/** What waiting callers are told when a start failed: a known error as it is, anything else as the engine being unavailable. */
function asCallerError(err: Error): Error {
  return err instanceof GlambdarError ? err : new SandboxUnavailable('could not start a container for the function', { cause: err });
}
