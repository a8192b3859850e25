import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../support/clock.js';
import { setCondition } from './conditions.js';
import { replicaCounts, roundedRps } from './status.js';
import { pruneCode } from '../code/versions.js';
import { FunctionNotFound, GlambdarError, SandboxUnavailable, TerminalError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { templateOf, type Replica } from '../pool/replica.js';
import type { Pool } from '../pool/router.js';
import type { ContainerInfo, Sandbox } from '../sandbox/sandbox.js';
import type { Store } from '../state/store.js';
import type { ReconcileResult } from './workqueue.js';
import type { Condition, ConditionReason, FunctionRecord, FunctionStatus, Phase } from '../state/records.js';

/** What the reconciler works with. */
export interface ReconcilerOptions {
  store: Store;
  pool: Pool;
  sandbox: Sandbox;
  clock: Clock;
  log: Logger;
  functionsDir: string;
  /** Called when a deleted function is fully gone. */
  onPurged?: (name: string) => void;
  /** The autoscaler, told what each reconcile sees and asked how many replicas to keep. */
  scaling?: ScalingAdvisor;
  /**
   * First wait before a container whose function failed to load is replaced; it doubles per
   * failure up to 5 minutes (Kubernetes' CrashLoopBackOff). Default 10 s.
   */
  loadRetryBaseMs?: number;
  /**
   * Old code versions no container runs are removed once installed longer ago than this:
   * long enough that a deploy between its install and its write to the store is never caught.
   * Default 10 minutes.
   */
  codeGraceMs?: number;
}

/** What the reconciler needs of the autoscaler: it observes, then recommends. */
export interface ScalingAdvisor {
  /** What this reconcile sees: the function and its ready containers of the current template. */
  observe(fn: FunctionRecord, readyReplicas: number): void;
  /** Replicas to converge to (already within minWarm..maxReplicas); a query. */
  recommend(name: string): number;
  /** Predicted arrivals per second, recorded in status. */
  predictedRps(name: string): number;
}

/** How often a deleted function's draining containers are looked at again. */
const DRAIN_POLL_MS = 50;
/** The longest wait between replacements of a container whose function fails to load. */
const MAX_LOAD_RETRY_MS = 5 * 60_000;

/**
 * Level-triggered reconcile of one function: read the spec, the pool and the containers the
 * engine reports, then start, adopt, replace or remove containers and write status. It holds
 * no memory between calls, so running it again after any event is always safe.
 */
export class Reconciler {
  #o: ReconcilerOptions;
  /** Load failures in a row per function: the only memory kept, like kubelet's restart backoff. */
  #loadFailures = new Map<string, number>();

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  /** The queue's reconcile function. */
  readonly reconcile = async (name: string): Promise<ReconcileResult> => {
    const fn = this.#o.store.get(name);
    if (!fn || fn.deleting) return this.#finalize(name, fn);

    const codeDir = join(this.#o.functionsDir, name, fn.codeDigest);
    if (!existsSync(codeDir)) {
      this.#writeStatus(fn, { code: ['False', 'CodeMissing', 'code of this generation is missing; deploy it again'] });
      throw new TerminalError(`code of ${name} generation ${fn.generation} is missing`);
    }

    const listedAt = this.#o.clock.now();
    let everything: ContainerInfo[];
    try {
      everything = await this.#o.sandbox.list();
    } catch (err) {
      this.#writeStatus(fn, { pool: ['False', 'SandboxUnavailable', (err as Error).message] });
      throw err;
    }
    const template = templateOf(fn);
    await this.#syncWithEngine(fn, template, everything, listedAt);

    await this.#replaceFailedLoads(fn, template);
    const readyNow = this.#o.pool.replicas(name).filter((r) => r.state === 'ready' && r.template === template).length;
    this.#o.scaling?.observe(fn, readyNow);

    const live = this.#o.pool.replicas(name).filter((r) => r.state === 'starting' || r.state === 'ready');
    // A stem-born container serves its function's first requests, but its labels name no
    // function: once it is ready, it is replaced by a labelled one as an old version is in a
    // rollout (while it is still loading, it counts as the start it is).
    const stemBorn = (r: Replica) => r.fromStem && r.state === 'ready';
    const current = live.filter((r) => r.template === template && !stemBorn(r));
    const old = live.filter((r) => r.template !== template || stemBorn(r));
    // A rollout replaces what is running one for one; otherwise the autoscaler decides.
    const wanted = Math.max(fn.spec.minWarm, this.#o.scaling?.recommend(name) ?? current.length, old.length);
    const target = Math.min(fn.spec.maxReplicas, wanted);

    let startError: GlambdarError | Error | null = null;
    const toStart = target - current.length;
    // After failed starts, the next waits out the pool's back-off (a function that hangs at load
    // would otherwise hold a container for the whole start timeout at every retry).
    const backoffMs = toStart > 0 ? this.#o.pool.startBackoffMs(name) : 0;
    if (toStart > 0 && backoffMs === 0) {
      const results = await Promise.allSettled(Array.from({ length: toStart }, () => this.#o.pool.start(fn)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) startError = failed.reason as Error;
    }

    // Scale down: retire the least busy, longest idle surplus (busy ones drain first).
    const surplus = current.filter((r) => r.state === 'ready').length - target;
    if (toStart <= 0 && surplus > 0) {
      const idleFirst = current
        .filter((r) => r.state === 'ready')
        .sort((a, b) => a.inFlight - b.inFlight || a.lastUsedAt - b.lastUsedAt);
      for (const r of idleFirst.slice(0, surplus)) this.#o.pool.drain(r);
    }

    // Rolling update: once new containers are ready, old ones stop taking work and drain.
    // New code that fails to load does not replace working containers (as a failing readiness
    // probe holds a Kubernetes rollout).
    const readyCurrent = this.#o.pool
      .replicas(name)
      .filter((r) => r.state === 'ready' && r.template === template && !r.fromStem && !r.loadError);
    if (old.length > 0 && (readyCurrent.length >= Math.min(target, 1) || target === 0)) {
      for (const r of old) this.#o.pool.drain(r);
    }
    // Each deploy adds a code version; once no container runs an older one, it can go (a
    // function redeployed for months would otherwise fill the disk). Stem-born containers
    // run a copy of their own.
    if (!this.#o.pool.replicas(name).some((r) => r.template !== template && !r.fromStem)) {
      await pruneCode(this.#o.functionsDir, name, fn.codeDigest, Date.now() - (this.#o.codeGraceMs ?? 10 * 60_000));
    }

    const fresh = this.#o.store.get(name);
    if (!fresh || fresh.deleting) return { requeueAfterMs: 0 };
    if (startError) {
      const reason = startError instanceof SandboxUnavailable ? 'SandboxUnavailable' : 'StartFailed';
      this.#writeStatus(fresh, { pool: ['False', reason, startError.message] });
      throw startError;
    }
    this.#writeStatus(fresh, {});
    const retryAfterMs = Math.min(this.#loadRetryAfter(fresh, template) ?? Infinity, backoffMs > 0 ? backoffMs : Infinity);
    return retryAfterMs === Infinity ? {} : { requeueAfterMs: retryAfterMs };
  };

  /**
   * A container whose function failed to load stays (answering 500 with the error) until its
   * back-off has passed, then it is replaced: 10 s, 20 s, 40 s ... up to 5 minutes, reset once a
   * container of the function loads (Kubernetes' CrashLoopBackOff).
   */
  async #replaceFailedLoads(fn: FunctionRecord, template: string): Promise<void> {
    const { failed, healthy } = this.#loadStates(fn.name, template);
    if (failed.length === 0) {
      if (healthy) this.#loadFailures.delete(fn.name);
      return;
    }
    const backoff = this.#loadBackoff(fn.name);
    const now = this.#o.clock.now();
    const due = failed.filter((r) => now - r.startedAt >= backoff);
    if (due.length === 0) return;
    const attempt = (this.#loadFailures.get(fn.name) ?? 0) + 1;
    this.#loadFailures.set(fn.name, attempt);
    this.#o.log.info(`${fn.name}: replacing ${due.length} container(s) whose function failed to load (attempt ${attempt})`);
    for (const r of due) await this.#o.pool.remove(r);
  }

  /** When to look again at a function with containers that failed to load, if it has any. */
  #loadRetryAfter(fn: FunctionRecord, template: string): number | undefined {
    const { failed } = this.#loadStates(fn.name, template);
    if (failed.length === 0) return undefined;
    const now = this.#o.clock.now();
    const oldest = Math.max(...failed.map((r) => now - r.startedAt));
    return Math.max(1, this.#loadBackoff(fn.name) - oldest);
  }

  #loadBackoff(name: string): number {
    return Math.min((this.#o.loadRetryBaseMs ?? 10_000) * 2 ** (this.#loadFailures.get(name) ?? 0), MAX_LOAD_RETRY_MS);
  }

  #loadStates(name: string, template: string): { failed: Replica[]; healthy: boolean } {
    const ready = this.#o.pool.replicas(name).filter((r) => r.state === 'ready' && r.template === template);
    return { failed: ready.filter((r) => r.loadError), healthy: ready.some((r) => !r.loadError) };
  }

  /** Adopts or removes containers the pool does not know; drops replicas whose container is gone. */
  async #syncWithEngine(fn: FunctionRecord, template: string, everything: ContainerInfo[], listedAt: number): Promise<void> {
    const known = new Map(this.#o.pool.replicas(fn.name).map((r) => [r.key, r]));
    const labelled = everything.filter((c) => !c.stem && c.functionName === fn.name);
    for (const c of labelled) {
      if (known.has(c.replicaKey)) continue;
      if (c.running && c.template === template) {
        try {
          await this.#o.pool.adopt(fn, c.id, c.replicaKey);
          continue;
        } catch {
          this.#o.log.info(`container ${c.id.slice(0, 12)} of ${fn.name} did not answer; removing it`);
        }
      }
      await this.#o.sandbox.remove(c.id);
    }
    // Stem-born replicas carry no function label, so liveness is checked against every container.
    const running = new Set(everything.filter((c) => c.running).map((c) => c.id));
    for (const r of this.#o.pool.replicas(fn.name)) {
      if (r.state === 'starting' || r.startedAt >= listedAt || !r.containerId) continue;
      if (!running.has(r.containerId)) await this.#o.pool.dropStopped(r);
    }
  }

  /** Deletion, step two: drain and remove containers, then code, logs and the record. */
  async #finalize(name: string, fn: FunctionRecord | undefined): Promise<ReconcileResult> {
    this.#loadFailures.delete(name);
    if (fn) this.#writeStatus(fn, { terminating: true });
    this.#o.pool.failWaiters(name, new FunctionNotFound(name));
    const replicas: readonly Replica[] = [...this.#o.pool.replicas(name)];
    for (const r of replicas) {
      if (r.inFlight === 0) await this.#o.pool.remove(r);
      else this.#o.pool.drain(r);
    }
    const draining = this.#o.pool.replicas(name);
    if (draining.length > 0) {
      const deadline = (fn?.updatedAt ?? 0) + (fn?.spec.timeoutMs ?? 0);
      if (this.#o.clock.now() < deadline) return { requeueAfterMs: DRAIN_POLL_MS };
      for (const r of draining) await this.#o.pool.remove(r);
    }
    // A replica drained before the deletion (a stem-born one a labelled container replaced) may
    // still be going: the function is gone only once its containers and folders are.
    await this.#o.pool.removalsDone(name);
    for (const c of await this.#o.sandbox.list(name)) await this.#o.sandbox.remove(c.id);
    this.#o.pool.forgetIfEmpty(name);
    if (fn) {
      await rm(join(this.#o.functionsDir, name), { recursive: true, force: true });
      this.#o.store.purge(name);
      this.#o.log.info(`deleted function ${name}`);
    }
    this.#o.onPurged?.(name);
    return {};
  }

  #writeStatus(
    fn: FunctionRecord,
    override: {
      code?: ['False', ConditionReason, string];
      pool?: ['False', ConditionReason, string];
      terminating?: boolean;
    },
  ): void {
    const now = this.#o.clock.now();
    const previous = this.#o.store.getStatus(fn.name);
    const gen = fn.generation;
    const template = templateOf(fn);
    const replicas = this.#o.pool.replicas(fn.name);
    const current = replicas.filter((r) => r.template === template && r.state !== 'dead');
    const ready = current.filter((r) => r.state === 'ready' && !r.loadError).length;
    const loadError = current.find((r) => r.loadError)?.loadError ?? null;
    const desired = Math.min(fn.spec.maxReplicas, Math.max(fn.spec.minWarm, this.#o.scaling?.recommend(fn.name) ?? 0));

    let conditions: Condition[] = previous?.conditions ?? [];
    const code = override.code ?? ['True', 'CodeInstalled', `code ${fn.codeDigest} installed`];
    conditions = setCondition(conditions, 'CodeReady', code[0], code[1], code[2], gen, now);

    const startError = this.#o.pool.startError(fn.name);
    let pool: ['True' | 'False', ConditionReason, string];
    if (override.terminating) pool = ['False', 'Deleting', 'function is being deleted'];
    else if (override.pool) pool = override.pool;
    else if (loadError) pool = ['False', 'LoadFailed', loadError];
    else if (startError && ready < Math.max(desired, 1)) pool = ['False', 'StartFailed', startError.message];
    else if (ready >= desired) {
      pool =
        ready === 0
          ? ['True', 'ScaledToZero', 'no warm containers; one starts on the next request']
          : ['True', 'ContainersReady', `${ready} of ${Math.max(desired, ready)} containers ready`];
    } else pool = ['False', 'Starting', `${ready} of ${desired} containers ready`];
    conditions = setCondition(conditions, 'PoolReady', pool[0], pool[1], pool[2], gen, now);
    const allTrue = code[0] === 'True' && pool[0] === 'True';
    conditions = setCondition(
      conditions,
      'Ready',
      allTrue ? 'True' : 'False',
      allTrue ? 'Reconciled' : code[0] === 'True' ? pool[1] : code[1],
      allTrue ? 'desired state reached' : code[0] === 'True' ? pool[2] : code[2],
      gen,
      now,
    );

    let phase: Phase;
    if (override.terminating) phase = 'Terminating';
    else if (allTrue) phase = 'Ready';
    else if (pool[1] === 'LoadFailed' && replicas.some((r) => r.state === 'ready' && !r.loadError)) phase = 'Degraded';
    else if (code[0] === 'False' || pool[1] === 'LoadFailed' || pool[1] === 'StartFailed') phase = 'Failed';
    else if (pool[1] === 'SandboxUnavailable') phase = ready > 0 ? 'Degraded' : 'Failed';
    else phase = 'Pending';

    const status: FunctionStatus = {
      observedGeneration: gen,
      phase,
      ...replicaCounts(replicas),
      desiredReplicas: desired,
      predictedRps: roundedRps(this.#o.scaling?.predictedRps(fn.name) ?? 0),
      conditions,
    };
    this.#o.store.writeStatus(fn.name, status);
  }
}
