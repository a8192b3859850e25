import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ContainerDied, FunctionLoadFailed, SandboxUnavailable } from '../support/errors.js';
import type { ExitReason } from '../sandbox/sandbox.js';
import type { FunctionRecord } from '../state/records.js';
import { afterFirstRelease, entryOf, functionEnv, isGone, newReplica, type Replica } from './replica.js';
import { labelledSpec } from './labelled-spec.js';
import type { Standby } from './standbys.js';
import { listenForReplica, listenIn, makeSecretsFolder, makeSocketFolder, removeReplicaFolders } from './replica-socket.js';
import type { ReplicaLifecycleOptions } from './replica-setting.js';
import type { WorkerClient } from './worker-client.js';
import { DEFAULT_CONFIG } from '../../worker/config.js';

/**
 * How long a retired replica's worker may take to stop: its drain bound (the worker's
 * `GLAMBDAR_DRAIN_TIMEOUT_MS`, which the runtime leaves at its default) and a second more.
 */
const RETIRE_GRACE_MS = DEFAULT_CONFIG.drainTimeoutMs + 1000;

/** A start given up because its replica was retired meanwhile (a deletion, a scale-down). */
export class RetiredDuringStart extends Error {
  constructor(options?: { cause: unknown }) {
    super('replica retired during start', options);
  }
}

/** How long a worker's lost connection may precede the engine seeing its container stop. */
const EXIT_REASON_WAIT_MS = 500;
/** How long an adopted container's worker may take to connect again after a restart. */
const ADOPT_TIMEOUT_MS = 5000;
/**
 * What follows a new container's start (its CPU settle, a stem cell's new name, telling the
 * reconciler) waits for its first invocation to answer, but no longer than this.
 */
export const SETTLE_WITHIN_MS = 500;
/** First and longest wait before another start for waiters after a failed one. */
const START_BACKOFF_BASE_MS = 1000;
const START_BACKOFF_MAX_MS = 5 * 60_000;

/** Starts that failed in a row for a function, and until when waiters start no other. */
interface StartFailure {
  count: number;
  until: number;
  error: Error;
}

/**
 * The life of one replica: start (a labelled container, or a stem cell specialised for the
 * function), adoption after a restart, the CPU settle after boot, and removal. Routing is the
 * router's (./router.ts); this module only tells it when a replica joins, is ready, or leaves.
 */
export class ReplicaLifecycle {
  #o: ReplicaLifecycleOptions;
  #startFailures = new Map<string, StartFailure>();
  /** Replicas whose container is being removed, by key: the engine still lists it meanwhile. */
  #removing = new Map<string, { functionName: string; done: Promise<void> }>();

  constructor(options: ReplicaLifecycleOptions) {
    this.#o = options;
  }

  /** How long the function's next start should wait after failed ones (0: none failed, or the back-off has passed). */
  startBackoffMs(functionName: string): number {
    const failure = this.#startFailures.get(functionName);
    return failure ? Math.max(0, failure.until - this.#o.clock.now()) : 0;
  }

  /** Why the function's last start failed, while no start has succeeded since. */
  startError(functionName: string): Error | null {
    return this.#startFailures.get(functionName)?.error ?? null;
  }

  /** Keys of replicas whose container is being removed. */
  removingKeys(): Set<string> {
    return new Set(this.#removing.keys());
  }

  /** Removes a container no replica stands for, then the folders its key names. */
  async removeStray(containerId: string, replicaKey: string): Promise<void> {
    await this.#o.sandbox.remove(containerId);
    if (replicaKey !== '') await removeReplicaFolders(this.#o.socketsDir, this.#o.stemCells?.cellsDir ?? null, replicaKey);
  }

  /** True while the container of this replica key is being removed (it is no stray to adopt). */
  isRemoving(replicaKey: string): boolean {
    return this.#removing.has(replicaKey);
  }

  /** The removals of a function's containers under way (a deletion waits for them). */
  removalsOf(functionName: string): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const r of this.#removing.values()) if (r.functionName === functionName) out.push(r.done);
    return out;
  }

  /** Forgets a function's failed starts (its pool is gone). */
  forget(functionName: string): void {
    this.#startFailures.delete(functionName);
  }

  /** Starts one labelled container of `fn` and resolves when its worker has said hello. */
  async startLabelled(fn: FunctionRecord): Promise<Replica> {
    // The function's standby, when it was made for this record: its container is created already.
    const standby = this.#o.standbys?.take(fn) ?? null;
    const replica = this.#new(fn, standby?.key ?? randomBytes(5).toString('hex'));
    try {
      await this.#bootLabelled(replica, fn, standby);
      this.#startFailures.delete(fn.name);
      return replica;
    } catch (err) {
      throw await this.#failedStart(replica, fn, err);
    }
  }

  /** Starts one replica for waiting requests: from a stem cell when one of its size is ready. */
  async startForWaiters(fn: FunctionRecord): Promise<Replica> {
    const stemCells = this.#o.stemCells;
    const size = { memoryMb: fn.spec.memoryMb, cpus: fn.spec.cpus };
    const cell = stemCells?.take(size);
    if (!stemCells || !cell) return this.startLabelled(fn);
    const replica = this.#new(fn, cell.key);
    // The pool owns the cell's container from here: a deletion during the load removes it.
    replica.containerId = cell.containerId;
    replica.client = cell.client;
    replica.fromStem = true;
    cell.client.budgetKey = fn.name;
    const started = this.#o.clock.now();
    try {
      // Its secrets first, into the folder the cell was made with: the function may read them as it loads.
      await this.#writeSecrets(fn, cell.secretsDir);
      const loadError = await stemCells.specialize(cell, join(this.#o.functionsDir, fn.name, fn.codeDigest), functionEnv(fn), entryOf(fn));
      if (isGone(replica)) throw new RetiredDuringStart();
      this.#attach(replica, cell.client);
      this.#startFailures.delete(fn.name);
      // Labels cannot change: the new name tells `docker ps` whose container it is until the
      // reconciler has replaced it with a labelled one (in the background: not on the invoke's path).
      // The next cell too (its start would slow this cold start: StemCells.take), and the
      // container's CPU settle, as for a labelled start (#bootLabelled).
      afterFirstRelease(replica, this.#o.clock, SETTLE_WITHIN_MS, () => {
        stemCells.refill(size);
        if (isGone(replica)) return;
        this.#settle(replica, fn.spec.cpus);
        void this.#o.sandbox.assign(cell.containerId, fn.name, replica.key).catch((err: unknown) => {
          if (!isGone(replica)) this.#o.log.warn(`could not rename the stem cell of ${fn.name} replica ${replica.key}: ${(err as Error).message}`);
        });
      });
      this.#o.log.info(
        `specialised a stem cell as ${fn.name} replica ${replica.key} (generation ${fn.generation}) in ${this.#o.clock.now() - started} ms` +
          (loadError ? `; function failed to load: ${loadError}` : ''),
      );
      return replica;
    } catch (err) {
      stemCells.refill(size);
      throw await this.#failedStart(replica, fn, err);
    }
  }

  /**
   * Takes over a running labelled container found after a restart: listens on its socket
   * again and waits for its worker to reconnect. Identity comes from the container's labels,
   * set by the runtime at create time, and from which socket the worker reached.
   */
  async adopt(fn: FunctionRecord, containerId: string, replicaKey: string): Promise<Replica> {
    const replica = this.#new(fn, replicaKey);
    replica.containerId = containerId;
    try {
      replica.listener = await listenForReplica(this.#o.socketsDir, replicaKey, this.#context(fn.name));
      const client = await replica.listener.accept(Math.min(ADOPT_TIMEOUT_MS, this.#o.startTimeoutMs), this.#o.clock);
      this.#attach(replica, client);
      // Settled already, unless the previous run stopped between start and settle.
      this.#settle(replica, fn.spec.cpus);
      this.#o.log.info(`adopted ${fn.name} replica ${replicaKey}`);
      return replica;
    } catch (err) {
      await this.remove(replica);
      throw err;
    }
  }

  /**
   * Records why the replica's container stopped, asked before the container is removed (which
   * would take the answer with it); once per replica.
   */
  askWhyItStopped(replica: Replica, waitMs: number): Promise<ExitReason | null> {
    replica.exit ??= replica.containerId ? this.#o.sandbox.exitReason(replica.containerId, waitMs) : Promise.resolve(null);
    return replica.exit;
  }

  /** Removes a replica: its container, connection and folders. `force` also removes a replica already marked dead. */
  async remove(replica: Replica, force = false): Promise<void> {
    await this.#end(replica, force, false);
  }

  /**
   * Removes an idle, healthy replica the pool no longer wants (scaled down, replaced by a
   * rollout): its worker is stopped first, so it finishes what it runs after its answers
   * (fetch's `ctx.waitUntil` work) within its drain bound, its output still relayed, then
   * removed. A forced removal would kill that work.
   */
  async retire(replica: Replica): Promise<void> {
    await this.#end(replica, false, true);
  }

  async #end(replica: Replica, force: boolean, graceful: boolean): Promise<void> {
    if (isGone(replica) && !force) return;
    this.#o.log.debug(`${graceful ? 'retiring' : 'removing'} ${replica.functionName} replica ${replica.key} (was ${replica.state}, ${replica.inFlight} in flight)`);
    replica.state = 'dead';
    this.#o.untrack(replica);
    const done = this.#teardown(replica, graceful);
    this.#removing.set(replica.key, { functionName: replica.functionName, done });
    try {
      await done;
    } finally {
      if (this.#removing.get(replica.key)?.done === done) this.#removing.delete(replica.key);
    }
  }

  /** Closes a removed replica's connection (after stopping its worker, when `graceful`), then removes its container and folders. */
  async #teardown(replica: Replica, graceful: boolean): Promise<void> {
    if (graceful && replica.containerId && replica.client && !replica.client.closed) {
      await this.#o.sandbox.stop(replica.containerId, RETIRE_GRACE_MS).catch((err: Error) => {
        this.#o.log.warn(`could not stop ${replica.functionName} replica ${replica.key} gracefully, removing it: ${err.message}`);
      });
    }
    replica.listener?.close();
    replica.client?.close();
    await replica.exit;
    try {
      if (replica.containerId) await this.#o.sandbox.remove(replica.containerId);
    } catch (err) {
      this.#o.log.warn(`could not remove container of ${replica.functionName}: ${(err as Error).message}`);
    }
    await removeReplicaFolders(this.#o.socketsDir, this.#o.stemCells?.cellsDir ?? null, replica.key, this.#o.secretMountsDir);
  }

  /** Writes a function's secrets into a container's secrets folder; a function with secrets needs one. */
  async #writeSecrets(fn: FunctionRecord, dir: string | null): Promise<void> {
    if (fn.spec.secrets.length === 0) return;
    if (dir === null || !this.#o.secrets) throw new SandboxUnavailable(`function "${fn.name}" names secrets, but its container has no secrets folder`);
    await this.#o.secrets.writeInto(fn.spec.secrets, dir);
  }

  /**
   * Starts a labelled container: `standby`'s, or one created now. A standby whose create
   * failed is replaced by a create under its key (its folders are the replica's already).
   */
  async #bootLabelled(replica: Replica, fn: FunctionRecord, standby: Standby | null): Promise<void> {
    const started = this.#o.clock.now();
    const standbyId = standby ? await standby.created.catch(() => null) : null;
    if (standbyId !== null) replica.containerId = standbyId;
    if (isGone(replica)) throw new RetiredDuringStart();
    const secretMountsDir = this.#o.secretMountsDir;
    const [socketDir, secretsDir] =
      standbyId !== null
        ? [standby!.socketDir, standby!.secretsDir]
        : await Promise.all([makeSocketFolder(this.#o.socketsDir, replica.key), secretMountsDir === undefined ? null : makeSecretsFolder(secretMountsDir, replica.key)]);
    if (isGone(replica)) throw new RetiredDuringStart();
    // Listening and the secrets go on while the engine creates the container (~1-2 ms of a
    // cold start): its worker connects, and its function reads them, only once it starts.
    const ready = Promise.all([
      listenIn(socketDir, this.#context(fn.name)).then((listener) => {
        replica.listener = listener;
      }),
      this.#writeSecrets(fn, secretsDir),
    ]);
    // Handled at once: it may fail while the engine still creates, before the sandbox awaits it.
    const settled = ready.catch(() => undefined);
    try {
      if (standbyId === null) {
        const folders = { functionsDir: this.#o.functionsDir, workerDir: this.#o.workerDir, socketDir, secretsDir };
        replica.containerId = await this.#o.sandbox.start(labelledSpec(fn, replica.key, folders), ready);
      } else {
        await ready;
        await this.#o.sandbox.startCreated(standbyId);
      }
    } finally {
      // A create that failed before its start: the listener, if made, is the replica's to close.
      await settled;
    }
    const listener = replica.listener;
    if (isGone(replica) || listener === null) throw new RetiredDuringStart();
    let client: WorkerClient;
    try {
      client = await listener.accept(this.#o.startTimeoutMs, this.#o.clock);
    } catch (err) {
      throw await this.#whyNoHello(replica, err);
    }
    this.#attach(replica, client);
    // The boost lasts through the first invocation (the cold start waiting for this
    // container): the engine's update (dockerd, containerd and a runc exec, ~20-40 ms of CPU
    // here) would otherwise compete with it for the cores and lower its quota midway.
    // The reconcile that follows makes the function's next standby (it makes none while a
    // start of the function waits for its first answer: the engine's create would compete).
    afterFirstRelease(replica, this.#o.clock, SETTLE_WITHIN_MS, () => {
      if (!isGone(replica)) this.#settle(replica, fn.spec.cpus);
      if (this.#o.standbys) this.#o.onChange(fn.name);
    });
    this.#o.log.info(
      `started ${fn.name} replica ${replica.key} (generation ${fn.generation}${standbyId === null ? '' : ', its standby container'}) in ${this.#o.clock.now() - started} ms` +
        (client.loadError ? `; function failed to load: ${client.loadError}` : ''),
    );
  }

  /** A container that never connected: it exited (the engine says how), or it runs but its worker is stuck. */
  async #whyNoHello(replica: Replica, err: unknown): Promise<unknown> {
    if (isGone(replica) || !replica.containerId || !(err instanceof SandboxUnavailable)) return err;
    const exit = await this.#o.sandbox.exitReason(replica.containerId, 0).catch(() => null);
    if (exit) return new ContainerDied(`the function container exited with code ${exit.exitCode} during start${exit.oomKilled ? ' (killed at its memory limit)' : ''}`);
    return new FunctionLoadFailed(
      `the function container did not connect within ${this.#o.startTimeoutMs} ms: node did not boot, or the function blocks at load (an endless loop at the top of its module?)`,
      { cause: err },
    );
  }

  /** Cleans up after a failed start and says what to throw; counts the failure unless it was a retirement. */
  async #failedStart(replica: Replica, fn: FunctionRecord, err: unknown): Promise<Error> {
    // Retired meanwhile (its function deleted, say): whatever failed after that is no news.
    const retired = isGone(replica);
    // Forced: a replica retired while the engine created it got its container id after that removal.
    await this.remove(replica, true);
    if (retired) return err instanceof RetiredDuringStart ? err : new RetiredDuringStart({ cause: err });
    const error = err instanceof Error ? err : new Error(String(err));
    // An engine that is away costs nothing to ask again; a container that came up and failed
    // (it hung at load, or exited) held a start timeout's worth of resources: that backs off.
    if (error instanceof SandboxUnavailable) return error;
    const previous = this.#startFailures.get(fn.name);
    const count = (previous?.count ?? 0) + 1;
    const wait = Math.min(START_BACKOFF_BASE_MS * 2 ** (count - 1), START_BACKOFF_MAX_MS);
    this.#startFailures.set(fn.name, { count, until: this.#o.clock.now() + wait, error });
    this.#o.startFailed(fn.name, error);
    return error;
  }

  #new(fn: FunctionRecord, key: string): Replica {
    const replica = newReplica(fn, key, this.#o.clock.now());
    this.#o.track(replica);
    return replica;
  }

  #context(functionName: string) {
    return { clock: this.#o.clock, budget: this.#o.budget, budgetKey: functionName };
  }

  /**
   * Ends a replica's start-up CPU boost in the background: the engine takes ~40 ms for it,
   * too long to wait for on a cold start, and the replica serves meanwhile. A replica whose
   * limit cannot be set is removed, so no container keeps more CPU than its spec.
   */
  #settle(replica: Replica, cpus: number): void {
    const id = replica.containerId;
    if (!id) return;
    this.#o.sandbox.settle(id, cpus).catch((err: Error) => {
      if (isGone(replica)) return;
      this.#o.log.error(`removing ${replica.functionName} replica ${replica.key}: could not set its CPU limit: ${err.message}`);
      void this.remove(replica).then(() => this.#o.onChange(replica.functionName));
    });
  }

  #attach(replica: Replica, client: WorkerClient): void {
    replica.client = client;
    replica.listener = null;
    replica.loadError = client.loadError;
    const onOutput = this.#o.onOutput;
    if (onOutput) client.onOutput((stream, text) => onOutput(replica.functionName, replica.containerId ?? '', stream, text));
    replica.interface = client.interface;
    client.onClose(() => {
      if (isGone(replica) || this.#o.detached()) return;
      const exit = this.askWhyItStopped(replica, EXIT_REASON_WAIT_MS);
      void exit.then((why) => {
        const ended = why === null ? client.closeReason : why.oomKilled ? 'was killed at its memory limit' : `exited with code ${why.exitCode}`;
        this.#o.log.warn(`${replica.functionName} replica ${replica.key}: ${ended}; replacing it`);
      });
      void this.remove(replica).then(() => this.#o.onChange(replica.functionName));
    });
    if (replica.state === 'starting') replica.state = 'ready';
    else if (isGone(replica)) {
      client.close();
      return;
    }
    this.#o.attached(replica);
  }
}
