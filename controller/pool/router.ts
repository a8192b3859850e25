import type { TimerHandle } from '../support/clock.js';
import { GlambdarError, NoCapacity, SandboxUnavailable } from '../support/errors.js';
import type { FunctionRecord } from '../state/records.js';
import { DEFAULT_FRAME_BUDGET, FrameBudget } from './frame-budget.js';
import { afterFirstRelease, templateOf, type Replica } from './replica.js';
import { ReplicaLifecycle, RetiredDuringStart, SETTLE_WITHIN_MS } from './replicas.js';
import type { ReplicaSetting } from './replica-setting.js';

/**
 * Where an invocation goes: the replicas of one template (a revision's code and container
 * spec). Replicas of the same template are interchangeable, so revisions that share one share
 * its containers.
 */
export interface PoolTarget {
  /** The record new replicas of this target start from: its revision's code and spec. */
  readonly record: FunctionRecord;
  readonly template: string;
  /**
   * While replicas of this template have no room, may replicas of a template outside `serving`
   * take the request? True for the latest revision: that is a rolling update, where old
   * containers answer until new ones are ready. A pinned revision gets its own code only.
   */
  readonly takesOver: boolean;
  /** The templates some revision with traffic or a tag runs. */
  readonly serving: ReadonlySet<string>;
}

/** The one target of a function that splits no traffic: its current template, taking over from older ones. */
export function soleTarget(fn: FunctionRecord): PoolTarget {
  const template = templateOf(fn);
  return { record: fn, template, takesOver: true, serving: new Set([template]) };
}

/** A replica lent to one invocation; give it back with `release`. */
export interface Lease {
  replica: Replica;
  /** True when the invocation had to wait for a container to start. */
  coldStart: boolean;
}

/** Where replicas come from, and the limits of waiting for one. */
export interface PoolOptions extends ReplicaSetting {
  queueTimeoutMs: number;
  maxQueuedPerFunction: number;
  /** Partial frames held from workers, per function and in total (shared with the stem cells). */
  budget?: FrameBudget;
  /** Called when a function's actual state changed (a replica started, died or left). */
  onChange: (functionName: string) => void;
}

interface Waiter {
  target: PoolTarget;
  resolve(lease: Lease): void;
  reject(err: Error): void;
  timer: TimerHandle;
}

interface FunctionPool {
  replicas: Replica[];
  /** Waiting invocations by the template they wait for, each list oldest first. */
  waiters: Map<string, Waiter[]>;
  /** How many wait in all. */
  queued: number;
}

/**
 * The warm containers of every function and the routing between them. The invoke path
 * borrows from here (least-loaded ready replica below `maxConcurrency`, else it queues and
 * one start is shared by the waiters); the reconciler adds replicas and takes them away with
 * the exits below, each named by its effect. Starting, adopting and removing a replica is
 * ./replicas.ts's job.
 */
export class Pool {
  #opts: PoolOptions;
  #pools = new Map<string, FunctionPool>();
  #lifecycle: ReplicaLifecycle;
  #detached = false;

  constructor(options: PoolOptions) {
    this.#opts = options;
    this.#lifecycle = new ReplicaLifecycle({
      ...options,
      budget: options.budget ?? new FrameBudget(DEFAULT_FRAME_BUDGET),
      track: (replica) => this.#pool(replica.functionName).replicas.push(replica),
      untrack: (replica) => {
        const pool = this.#pools.get(replica.functionName);
        if (pool) pool.replicas = pool.replicas.filter((r) => r !== replica);
      },
      attached: (replica) => {
        const pool = this.#pools.get(replica.functionName);
        if (pool) this.#dispatch(pool);
      },
      startFailed: (name, error) => {
        // Waiting requests with no other container to wait for are told now, not at their queue timeout.
        const pool = this.#pools.get(name);
        if (pool && !pool.replicas.some((r) => r.state === 'starting' || r.state === 'ready')) this.failWaiters(name, asCallerError(error));
      },
      onChange: options.onChange,
      detached: () => this.#detached,
    });
  }

  /** The replicas of a function, dead ones excluded. */
  replicas(functionName: string): readonly Replica[] {
    return this.#pools.get(functionName)?.replicas ?? [];
  }

  /**
   * True while a replica's container is being removed: the engine lists it as running until
   * the removal is done, and a reconcile must not take it for a stray to adopt.
   */
  isRemoving(replicaKey: string): boolean {
    return this.#lifecycle.isRemoving(replicaKey);
  }

  /** Removals of a function's containers under way, stem-born ones (no function label) included. */
  removalsOf(functionName: string): Promise<void>[] {
    return this.#lifecycle.removalsOf(functionName);
  }

  /** Invocations waiting for capacity. */
  queued(functionName: string): number {
    return this.#pools.get(functionName)?.queued ?? 0;
  }

  /** Names of functions the pool holds replicas for. */
  functionNames(): string[] {
    return [...this.#pools.keys()];
  }

  /** How long the function's next start should wait after failed ones (0: none failed, or the back-off has passed). */
  startBackoffMs(functionName: string): number {
    return this.#lifecycle.startBackoffMs(functionName);
  }

  /** Why the function's last start failed, while no start has succeeded since. */
  startError(functionName: string): Error | null {
    return this.#lifecycle.startError(functionName);
  }

  /** Borrows a ready replica of `target` with room, as `acquire` does, but only at once: null when it would wait. */
  tryAcquire(target: PoolTarget): Replica | null {
    const pool = this.#pools.get(target.record.name);
    if (!pool) return null;
    const replica = this.#pick(pool, target);
    if (!replica) return null;
    replica.inFlight += 1;
    return replica;
  }

  /** Borrows a replica of `target` for one invocation, starting one if none has room. */
  acquire(target: PoolTarget): Promise<Lease> {
    const name = target.record.name;
    const pool = this.#pool(name);
    const replica = this.#pick(pool, target);
    if (replica) {
      replica.inFlight += 1;
      return Promise.resolve({ replica, coldStart: false });
    }
    if (pool.queued >= this.#opts.maxQueuedPerFunction) {
      return Promise.reject(new NoCapacity(`function "${name}" has ${pool.queued} requests waiting; try again later`));
    }
    return new Promise<Lease>((resolve, reject) => {
      let group = pool.waiters.get(target.template);
      if (!group) {
        group = [];
        pool.waiters.set(target.template, group);
      }
      const waiting = group;
      const waiter: Waiter = {
        target,
        resolve,
        reject,
        timer: this.#opts.clock.setTimeout(() => {
          const i = waiting.indexOf(waiter);
          if (i >= 0) {
            waiting.splice(i, 1);
            pool.queued -= 1;
          }
          reject(new NoCapacity(`no container of function "${name}" could take the request within ${this.#opts.queueTimeoutMs} ms`));
        }, this.#opts.queueTimeoutMs),
      };
      waiting.push(waiter);
      pool.queued += 1;
      this.#scaleForWaiters(pool, target);
    });
  }

  /** Gives a replica back after an invocation. */
  release(replica: Replica): void {
    replica.inFlight -= 1;
    replica.lastUsedAt = this.#opts.clock.now();
    if (replica.onRelease !== null) {
      const onRelease = replica.onRelease;
      replica.onRelease = null;
      onRelease();
    }
    if (replica.state === 'draining' && replica.inFlight === 0) {
      void this.#lifecycle.retire(replica);
      return;
    }
    const pool = this.#pools.get(replica.functionName);
    if (pool) this.#dispatch(pool);
  }

  /**
   * Starts one labelled container of `fn` and resolves when its worker has said hello. This is
   * what the reconciler uses; only a start for waiting requests may take a stem cell.
   */
  start(fn: FunctionRecord): Promise<Replica> {
    return this.#lifecycle.startLabelled(fn);
  }

  /** Takes over a running labelled container found after a restart (see ReplicaLifecycle.adopt). */
  adopt(fn: FunctionRecord, containerId: string, replicaKey: string): Promise<Replica> {
    // Idempotent: a container the pool already holds (adopted, or being adopted) is that replica.
    const held = [...this.#pools.values()].flatMap((p) => p.replicas).find((r) => r.key === replicaKey || r.containerId === containerId);
    if (held) return Promise.resolve(held);
    return this.#lifecycle.adopt(fn, containerId, replicaKey);
  }

  /** Removes a container no replica stands for (a stray, an old stem cell) and its key's folders. */
  removeStray(containerId: string, replicaKey: string): Promise<void> {
    return this.#lifecycle.removeStray(containerId, replicaKey);
  }

  /** Every replica key the pool holds (starting, ready, draining, or being removed). */
  keys(): Set<string> {
    const keys = this.#lifecycle.removingKeys();
    for (const pool of this.#pools.values()) for (const r of pool.replicas) keys.add(r.key);
    return keys;
  }

  /** Stops routing to a replica; it is retired once its in-flight requests finish (removed at once while starting). */
  drain(replica: Replica): void {
    if (replica.state === 'dead' || replica.state === 'draining') return;
    if (replica.state === 'starting' || replica.inFlight === 0) {
      void (replica.state === 'starting' ? this.#lifecycle.remove(replica) : this.#lifecycle.retire(replica));
      return;
    }
    replica.state = 'draining';
  }

  /** Removes a replica at once; its in-flight requests fail. For the reconciler, which knows. */
  async remove(replica: Replica): Promise<void> {
    await this.#lifecycle.remove(replica);
  }

  /**
   * Drops a replica whose container stopped by itself (the engine lists it as not running),
   * asking the engine why first: the invocations it fails tell their callers.
   */
  async dropStopped(replica: Replica): Promise<void> {
    if (replica.state === 'dead') return;
    void this.#lifecycle.askWhyItStopped(replica, 0);
    await this.#lifecycle.remove(replica);
  }

  /**
   * Removes a replica the invoke path gave up on (a handler past its timeout may be blocking
   * its event loop) and tells the reconciler, which starts a replacement if one is wanted. The
   * engine's event would not: a stem-born container's labels name no function.
   */
  async replace(replica: Replica): Promise<void> {
    if (replica.state === 'dead') return;
    await this.#lifecycle.remove(replica);
    this.#opts.onChange(replica.functionName);
  }

  /** Rejects the waiters of a function, e.g. because it cannot start containers. */
  failWaiters(functionName: string, err: Error): void {
    const pool = this.#pools.get(functionName);
    if (!pool) return;
    const groups = [...pool.waiters.values()];
    pool.waiters.clear();
    pool.queued = 0;
    for (const group of groups) {
      for (const w of group) {
        this.#opts.clock.clearTimeout(w.timer);
        w.reject(err);
      }
    }
  }

  /**
   * Lets go of every container without removing it (the next start adopts them): closes the
   * connections and stops reacting to their loss.
   */
  detachAll(): void {
    this.#detached = true;
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
    if (pool && pool.replicas.length === 0 && pool.queued === 0) {
      this.#pools.delete(functionName);
      this.#lifecycle.forget(functionName);
    }
  }

  #pool(name: string): FunctionPool {
    let pool = this.#pools.get(name);
    if (!pool) {
      pool = { replicas: [], waiters: new Map(), queued: 0 };
      this.#pools.set(name, pool);
    }
    return pool;
  }

  /**
   * The least-loaded ready replica of the target's template with room. A target that takes
   * over (the latest revision in a rolling update) is also served by replicas of templates no
   * revision serves any more, until its own are ready.
   */
  #pick(pool: FunctionPool, target: PoolTarget): Replica | undefined {
    const max = target.record.spec.maxConcurrency;
    // Healthy own first, then healthy older ones (a rollout in progress, or new code that
    // fails to load), then whatever is left so a broken function still answers its error.
    let best: Replica | undefined;
    let bestRank = Infinity;
    for (const r of pool.replicas) {
      if (r.state !== 'ready' || r.inFlight >= max) continue;
      let rk: number;
      if (r.template === target.template) rk = 0;
      else if (target.takesOver && !target.serving.has(r.template)) rk = 1;
      else continue;
      if (r.loadError) rk += 2;
      if (rk < bestRank || (rk === bestRank && r.inFlight < best!.inFlight)) {
        best = r;
        bestRank = rk;
      }
    }
    return best;
  }

  /**
   * Starts a replica when the target's waiters outnumber the room of its replicas already
   * starting. After a failed start the next waits out a back-off (1 s, doubling up to 5 min,
   * like a crash loop): meanwhile waiters with no container to wait for are told the start error at once.
   */
  #scaleForWaiters(pool: FunctionPool, target: PoolTarget): void {
    const fn = target.record;
    const waiting = pool.waiters.get(target.template)?.length ?? 0;
    let starting = 0;
    let live = 0;
    for (const r of pool.replicas) {
      if (r.state === 'starting' || r.state === 'ready') live += 1;
      if (r.state === 'starting' && r.template === target.template) starting += 1;
    }
    if (waiting <= starting * fn.spec.maxConcurrency || live >= fn.spec.maxReplicas) return;
    if (this.#lifecycle.startBackoffMs(fn.name) > 0) {
      if (live === 0) this.failWaiters(fn.name, this.#lifecycle.startError(fn.name)!);
      return;
    }
    this.#lifecycle.startForWaiters(fn).then(
      // The reconciler looks (and, for a stem-born replica, starts its labelled replacement)
      // once the waiting invocations have their container, not while it serves the first.
      (replica) => afterFirstRelease(replica, this.#opts.clock, SETTLE_WITHIN_MS, () => this.#opts.onChange(fn.name)),
      (err: Error) => {
        if (err instanceof RetiredDuringStart) this.#opts.log.debug(`a container of ${fn.name} was retired while it started`);
        else this.#opts.log.warn(`could not start a container for ${fn.name}: ${err.message}`);
        const stillStarting = pool.replicas.some((r) => r.state === 'starting');
        if (!stillStarting && !pool.replicas.some((r) => r.state === 'ready')) this.failWaiters(fn.name, asCallerError(err));
        this.#opts.onChange(fn.name);
      },
    );
  }

  /** Hands waiting invocations to replicas with room, each template's waiters in order. */
  #dispatch(pool: FunctionPool): void {
    if (pool.queued === 0) return;
    for (const [template, group] of pool.waiters) {
      while (group.length > 0) {
        const waiter = group[0]!;
        const replica = this.#pick(pool, waiter.target);
        if (!replica) break;
        group.shift();
        pool.queued -= 1;
        this.#opts.clock.clearTimeout(waiter.timer);
        replica.inFlight += 1;
        waiter.resolve({ replica, coldStart: true });
      }
      if (group.length === 0) pool.waiters.delete(template);
    }
  }
}

/** What waiting callers are told when a start failed: a known error as it is, anything else as the engine being unavailable. */
function asCallerError(err: Error): Error {
  return err instanceof GlambdarError ? err : new SandboxUnavailable('could not start a container for the function', { cause: err });
}
