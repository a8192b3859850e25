import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FunctionSpec } from '../../schemas/index.js';
import type { Clock } from '../support/clock.js';
import { pruneCode } from '../code/versions.js';
import { FunctionNotFound, GlambdarError, SandboxUnavailable, TerminalError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import type { Replica } from '../pool/replica.js';
import type { Pool } from '../pool/router.js';
import type { Standbys } from '../pool/standbys.js';
import type { TrafficPlans } from '../revisions/plans.js';
import { adoptionRecord, type TrafficPlan } from '../revisions/traffic-plan.js';
import type { ContainerInfo, Sandbox } from '../sandbox/sandbox.js';
import type { Store } from '../state/store.js';
import type { ReconcileResult } from './workqueue.js';
import type { FunctionRecord } from '../state/records.js';
import { fitWithin, groupReplicas, shareOut, type ServingGroup } from './serving-groups.js';
import { nextStatus, type StatusOverride } from './status-writer.js';

/** What the reconciler works with. */
export interface ReconcilerOptions {
  store: Store;
  pool: Pool;
  sandbox: Sandbox;
  clock: Clock;
  log: Logger;
  functionsDir: string;
  /** Each function's traffic plan: which revisions serve, and the records their replicas start from. */
  plans: TrafficPlans;
  /** Each function's standby container (a created, unstarted one): made for the record most traffic starts from. */
  standbys?: Standbys;
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
   * Old code versions no container runs and no kept revision names are removed once installed
   * longer ago than this: long enough that a deploy between its install and its write to the
   * store is never caught. Default 10 minutes.
   */
  codeGraceMs?: number;
}

/**
 * What the reconciler needs of the autoscaler: it observes, then recommends. Keys are a
 * function's name, and `name@revision` for each revision of a split (see TrafficPlan).
 */
export interface ScalingAdvisor {
  /** What this reconcile sees of a key: the spec it scales by, its ready containers, the last invocation stored. */
  observe(key: string, spec: FunctionSpec, readyReplicas: number, lastInvokedAt: number | null): void;
  /** Replicas to converge to (already within minWarm..maxReplicas); a query. */
  recommend(key: string): number;
  /** Predicted arrivals per second of a function, recorded in status. */
  predictedRps(name: string): number;
  /** Drops a key no longer used (a split that ended, a revision that lost its traffic). */
  forget(key: string): void;
}

/** How often a deleted function's draining containers are looked at again. */
const DRAIN_POLL_MS = 50;
/** The longest wait between replacements of a container whose function fails to load. */
const MAX_LOAD_RETRY_MS = 5 * 60_000;

/**
 * Level-triggered reconcile of one function: read the spec, its traffic plan, the pool and
 * the containers the engine reports, then start, adopt, replace or remove containers of
 * each serving revision and write status. Running it again after any event is always safe.
 */
export class Reconciler {
  #o: ReconcilerOptions;
  /** Load failures in a row per function: like kubelet's restart backoff. */
  #loadFailures = new Map<string, number>();
  /** The per-revision scaling keys each function used last time, to forget the ones it stops using. */
  #scalingKeys = new Map<string, Set<string>>();

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  /** The queue's reconcile function. */
  readonly reconcile = async (name: string): Promise<ReconcileResult> => {
    const fn = this.#o.store.get(name);
    if (!fn || fn.deleting) return this.#finalize(name, fn);
    const plan = this.#o.plans.plan(fn);

    const missing = plan.targets.find((t) => !existsSync(join(this.#o.functionsDir, name, t.record.codeDigest)));
    if (missing) {
      this.#writeStatus(fn, plan, 0, { code: ['False', 'CodeMissing', `code of revision ${missing.revision} is missing; deploy it again`] });
      throw new TerminalError(`code of ${name} revision ${missing.revision} is missing`);
    }

    const listedAt = this.#o.clock.now();
    let everything: ContainerInfo[];
    try {
      everything = await this.#o.sandbox.list();
    } catch (err) {
      this.#writeStatus(fn, plan, 0, { pool: ['False', 'SandboxUnavailable', (err as Error).message] });
      throw err;
    }
    await this.#syncWithEngine(fn, plan, everything, listedAt);
    await this.#replaceFailedLoads(fn, plan);

    const { groups, orphans } = groupReplicas(this.#o.pool.replicas(name), plan);
    const { targets, desired } = this.#size(fn, plan, groups);

    let startError: GlambdarError | Error | null = null;
    const toStart = groups.map((g, i) => targets[i]! - g.own.length);
    // After failed starts, the next waits out the pool's back-off (a function that hangs at load
    // would otherwise hold a container for the whole start timeout at every retry).
    const backoffMs = toStart.some((n) => n > 0) ? this.#o.pool.startBackoffMs(name) : 0;
    if (backoffMs === 0) {
      const starts = groups.flatMap((g, i) => Array.from({ length: Math.max(0, toStart[i]!) }, () => this.#o.pool.start(g.record)));
      const results = await Promise.allSettled(starts);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) startError = failed.reason as Error;
    }

    groups.forEach((g, i) => {
      // Scale down: retire the least busy, longest idle surplus (busy ones drain first).
      const ready = g.own.filter((r) => r.state === 'ready');
      const surplus = ready.length - targets[i]!;
      if (toStart[i]! <= 0 && surplus > 0) {
        const idleFirst = ready.sort((a, b) => a.inFlight - b.inFlight || a.lastUsedAt - b.lastUsedAt);
        for (const r of idleFirst.slice(0, surplus)) this.#o.pool.drain(r);
      }
      // Rolling update: once new containers are ready, what they replace stops taking work and
      // drains. New code that fails to load does not replace working containers (as a failing
      // readiness probe holds a Kubernetes rollout).
      const readyOwn = this.#o.pool
        .replicas(name)
        .filter((r) => r.state === 'ready' && r.template === g.template && !r.fromStem && !r.loadError).length;
      if (g.replacing.length > 0 && (readyOwn >= Math.min(targets[i]!, 1) || targets[i] === 0)) {
        for (const r of g.replacing) this.#o.pool.drain(r);
      }
    });
    for (const r of orphans) this.#o.pool.drain(r);
    this.#ensureStandby(name, groups);

    await this.#pruneCode(name);

    const fresh = this.#o.store.get(name);
    if (!fresh || fresh.deleting) return { requeueAfterMs: 0 };
    if (startError) {
      const reason = startError instanceof SandboxUnavailable ? 'SandboxUnavailable' : 'StartFailed';
      this.#writeStatus(fresh, plan, desired, { pool: ['False', reason, startError.message] });
      throw startError;
    }
    this.#writeStatus(fresh, plan, desired, {});
    const retryAfterMs = Math.min(this.#loadRetryAfter(fresh, plan) ?? Infinity, backoffMs > 0 ? backoffMs : Infinity);
    return retryAfterMs === Infinity ? {} : { requeueAfterMs: retryAfterMs };
  };

  /**
   * How many replicas each serving group should run. Without a split, the autoscaler's
   * recommendation for the function within minWarm..maxReplicas. With one, each revision is
   * sized from its own traffic and at least its share of the function's prediction; minWarm
   * is shared out by percent and maxReplicas bounds them together. A rollout keeps at least as
   * many as it replaces (one for one).
   */
  #size(fn: FunctionRecord, plan: TrafficPlan, groups: readonly ServingGroup[]): { targets: number[]; desired: number } {
    const scaling = this.#o.scaling;
    // Stem-born replicas of the group's own template serve it until replaced: they count as ready.
    const ready = (g: ServingGroup) =>
      g.own.filter((r) => r.state === 'ready').length + g.replacing.filter((r) => r.fromStem && r.template === g.template).length;
    this.#retainScalingKeys(fn.name, plan);
    const spec = fn.spec;
    if (!plan.split) {
      const g = groups[0]!;
      scaling?.observe(fn.name, spec, ready(g), fn.lastInvokedAt);
      const recommended = scaling?.recommend(fn.name);
      const wanted = Math.max(spec.minWarm, recommended ?? g.own.length, g.replacing.length);
      return { targets: [Math.min(spec.maxReplicas, wanted)], desired: Math.min(spec.maxReplicas, Math.max(spec.minWarm, recommended ?? 0)) };
    }
    for (const t of plan.targets) {
      const g = groups.find((x) => x.template === t.template)!;
      scaling?.observe(t.scalingKey, { ...t.record.spec, minWarm: 0 }, ready(g), null);
    }
    scaling?.observe(fn.name, { ...spec, minWarm: 0 }, groups.reduce((n, g) => n + ready(g), 0), fn.lastInvokedAt);
    const whole = scaling?.recommend(fn.name) ?? 0;
    const floors = shareOut(spec.minWarm, groups.map((g) => g.percent));
    const wants = groups.map((g, i) => {
      let want = 0;
      if (!scaling) want = g.own.length;
      else for (const t of g.targets) want += Math.max(scaling.recommend(t.scalingKey), Math.ceil((whole * t.percent) / 100 - 1e-9));
      return Math.max(floors[i]!, want);
    });
    const fitted = fitWithin(wants, spec.maxReplicas);
    return {
      targets: fitted.map((n, i) => Math.min(spec.maxReplicas, Math.max(n, groups[i]!.replacing.length))),
      desired: fitted.reduce((a, b) => a + b, 0),
    };
  }

  /** Forgets the per-revision scaling keys a function no longer uses. */
  #retainScalingKeys(name: string, plan: TrafficPlan | null): void {
    const now = new Set(plan?.split ? plan.targets.map((t) => t.scalingKey) : []);
    for (const key of this.#scalingKeys.get(name) ?? []) if (!now.has(key)) this.#o.scaling?.forget(key);
    if (now.size > 0) this.#scalingKeys.set(name, now);
    else this.#scalingKeys.delete(name);
  }

  /**
   * The function's next start (a cold start, a scale-up, a stem-born replica's replacement)
   * takes its standby; it is made for the group most traffic goes to. Not while a start of the
   * function waits for its first answer: the engine's create would compete with it (that
   * start's first answer queues the reconcile that makes it).
   */
  #ensureStandby(name: string, groups: readonly ServingGroup[]): void {
    const standbys = this.#o.standbys;
    if (!standbys || groups.length === 0) return;
    if (this.#o.pool.replicas(name).some((r) => r.state === 'starting' || r.onRelease !== null)) return;
    standbys.ensure(groups.reduce((a, b) => (b.percent > a.percent ? b : a)).record);
  }

  /**
   * Each deploy adds a code version; the code of every kept revision (a rollback needs it) and
   * of every running container stays, older versions go (a function redeployed for months
   * would otherwise fill the disk). Stem-born containers run a copy of their own.
   */
  async #pruneCode(name: string): Promise<void> {
    const keep = new Set(this.#o.store.revisions(name).map((r) => r.codeDigest));
    for (const r of this.#o.pool.replicas(name)) if (!r.fromStem) keep.add(r.digest);
    const standby = this.#o.standbys?.of(name);
    if (standby) keep.add(standby.digest);
    await pruneCode(this.#o.functionsDir, name, keep, Date.now() - (this.#o.codeGraceMs ?? 10 * 60_000));
  }

  /**
   * A container whose function failed to load stays (answering 500 with the error) until its
   * back-off has passed, then it is replaced: 10 s, 20 s, 40 s ... up to 5 minutes, reset once a
   * container of the function loads (Kubernetes' CrashLoopBackOff).
   */
  async #replaceFailedLoads(fn: FunctionRecord, plan: TrafficPlan): Promise<void> {
    const { failed, healthy } = this.#loadStates(fn.name, plan);
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
  #loadRetryAfter(fn: FunctionRecord, plan: TrafficPlan): number | undefined {
    const { failed } = this.#loadStates(fn.name, plan);
    if (failed.length === 0) return undefined;
    const now = this.#o.clock.now();
    const oldest = Math.max(...failed.map((r) => now - r.startedAt));
    return Math.max(1, this.#loadBackoff(fn.name) - oldest);
  }

  #loadBackoff(name: string): number {
    return Math.min((this.#o.loadRetryBaseMs ?? 10_000) * 2 ** (this.#loadFailures.get(name) ?? 0), MAX_LOAD_RETRY_MS);
  }

  #loadStates(name: string, plan: TrafficPlan): { failed: Replica[]; healthy: boolean } {
    const ready = this.#o.pool.replicas(name).filter((r) => r.state === 'ready' && plan.serving.has(r.template));
    return { failed: ready.filter((r) => r.loadError), healthy: ready.some((r) => !r.loadError) };
  }

  /**
   * Adopts or removes containers the pool does not know (a running one of a serving revision
   * is adopted); drops replicas whose container is gone.
   */
  async #syncWithEngine(fn: FunctionRecord, plan: TrafficPlan, everything: ContainerInfo[], listedAt: number): Promise<void> {
    const known = new Map(this.#o.pool.replicas(fn.name).map((r) => [r.key, r]));
    const labelled = everything.filter((c) => !c.stem && c.functionName === fn.name);
    for (const c of labelled) {
      // A container the pool is removing is still listed as running until the engine is done.
      // A standby is created and never started until a start takes it.
      if (known.has(c.replicaKey) || this.#o.pool.isRemoving(c.replicaKey) || this.#o.standbys?.holds(c.replicaKey)) continue;
      const record = c.running ? adoptionRecord(plan, c) : undefined;
      if (record) {
        try {
          await this.#o.pool.adopt(record, c.id, c.replicaKey);
          continue;
        } catch {
          this.#o.log.info(`container ${c.id.slice(0, 12)} of ${fn.name} did not answer; removing it`);
        }
      }
      await this.#o.pool.removeStray(c.id, c.replicaKey);
    }
    // Stem-born replicas carry no function label, so liveness is checked against every container.
    const running = new Set(everything.filter((c) => c.running).map((c) => c.id));
    for (const r of this.#o.pool.replicas(fn.name)) {
      if (r.state === 'starting' || r.startedAt >= listedAt || !r.containerId) continue;
      if (!running.has(r.containerId)) await this.#o.pool.dropStopped(r);
    }
  }

  /** Deletion, step two: drain and remove every revision's containers, then code, logs, revisions and the record. */
  async #finalize(name: string, fn: FunctionRecord | undefined): Promise<ReconcileResult> {
    this.#loadFailures.delete(name);
    this.#retainScalingKeys(name, null);
    if (fn) this.#writeStatus(fn, this.#o.plans.plan(fn), 0, { terminating: true });
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
    // Containers whose removal began earlier (a stem-born one replaced just before, which no
    // label names) are gone too before the function is.
    await Promise.all(this.#o.pool.removalsOf(name));
    await this.#o.standbys?.discard(name);
    for (const c of await this.#o.sandbox.list(name)) await this.#o.pool.removeStray(c.id, c.replicaKey);
    this.#o.pool.forgetIfEmpty(name);
    if (fn) {
      await rm(join(this.#o.functionsDir, name), { recursive: true, force: true });
      this.#o.store.purge(name);
      this.#o.log.info(`deleted function ${name}`);
    }
    this.#o.onPurged?.(name);
    return {};
  }

  #writeStatus(fn: FunctionRecord, plan: TrafficPlan, desired: number, override: StatusOverride): void {
    const status = nextStatus({
      fn,
      previous: this.#o.store.getStatus(fn.name),
      replicas: this.#o.pool.replicas(fn.name),
      serving: plan.serving,
      desired,
      predictedRps: this.#o.scaling?.predictedRps(fn.name) ?? 0,
      startError: this.#o.pool.startError(fn.name),
      now: this.#o.clock.now(),
      override,
    });
    this.#o.store.writeStatus(fn.name, status);
  }
}
