/**
 * A model of one function's pool and its reconciler, for the simulator. It mirrors
 * controller/pool/router.ts (which needs real sockets) and controller/reconcile/:
 * - routing: the least-loaded ready replica below maxConcurrency; ties go to the first one;
 * - otherwise the request waits in a FIFO queue of at most `maxQueued`, for at most
 *   `queueTimeoutMs` (then it is a 503), and a container is started only when the waiters
 *   outnumber the room of the ones already starting (Pool's scale-for-waiters), below maxReplicas;
 * - a released or newly ready replica takes the waiters it has room for; those requests are
 *   the "cold-start waits" (Pool marks them `coldStart`);
 * - retiring a replica removes it at once when idle or still starting, else it drains.
 * The sandbox starts a container in `startMs` and never fails. Reconciles take no time.
 */
import type { Autoscaler } from '../../controller/autoscaling/autoscaler.js';
import type { FakeClock } from '../../controller/support/clock.js';
import type { TrafficStats } from '../../controller/autoscaling/traffic-stats.js';

/** The spec fields the simulation uses. */
export interface SimSpec {
  maxConcurrency: number;
  minWarm: number;
  maxReplicas: number;
  scaleDownDelayMs: number;
  idleTimeoutMs: number;
}

/** What every function of a run adds to. */
export class Meter {
  containerMs = 0;
  live = 0;
  peakContainers = 0;
  containerStarts = 0;
  maxInFlightPerContainer = 0;
  rejected = 0;
  /** The wait of every served request. */
  readonly waits: number[] = [];
  /** Cold-start waits of requests in their function's first burst. */
  firstBurstColdWaits = 0;
}

/** Everything a function model needs from the run. */
export interface FunctionContext {
  clock: FakeClock;
  stats: TrafficStats;
  /** Null for the reactive policy. */
  autoscaler: Autoscaler | null;
  spec: SimSpec;
  startMs: number;
  queueTimeoutMs: number;
  maxQueued: number;
  /** Container time is counted until here (the trace's end). */
  endMs: number;
  meter: Meter;
  /** Sees every served request: when it arrived and how long it waited for a container. */
  onServed?: (name: string, arrivedAt: number, waitMs: number) => void;
}

interface SimReplica {
  state: 'starting' | 'ready' | 'draining';
  inFlight: number;
  startedAt: number;
  lastUsedAt: number;
}

interface Waiter {
  arrivedAt: number;
  durationMs: number;
  firstBurst: boolean;
}

/** One function's pool and reconciler. */
export class SimFunction {
  #replicas: SimReplica[] = [];
  #waiters: Waiter[] = [];
  #stopped = false;

  constructor(
    readonly name: string,
    readonly ctx: FunctionContext,
  ) {}

  /** A request arrived (the traffic stats are told here, as the invoker tells them). */
  arrive(durationMs: number, firstBurst: boolean): void {
    const { clock, stats, meter } = this.ctx;
    stats.onStart(this.name);
    const arrivedAt = clock.now();
    const r = this.#pick();
    if (r) {
      this.#run(r, { arrivedAt, durationMs, firstBurst });
      return;
    }
    this.#expireWaiters();
    if (this.#waiters.length >= this.ctx.maxQueued) {
      meter.rejected += 1;
      stats.onFinish(this.name);
      return;
    }
    this.#waiters.push({ arrivedAt, durationMs, firstBurst });
    this.#scaleForWaiters();
  }

  /** What the reconciler does: converge to the autoscaler's recommendation, or (reactive) stop idle containers. */
  reconcile(): void {
    if (this.#stopped) return;
    const { clock, spec, autoscaler } = this.ctx;
    const live = this.#replicas.filter((r) => r.state === 'starting' || r.state === 'ready');
    const ready = live.filter((r) => r.state === 'ready');
    if (autoscaler) {
      autoscaler.observe(this.name, spec, ready.length);
      const target = autoscaler.recommend(this.name);
      for (let n = live.length; n < target; n++) this.#start();
      // Surplus: idle replicas first (least recently used first), then the least busy drain.
      const surplus = live.length - target;
      if (surplus > 0) {
        const candidates = [...ready].sort((a, b) => a.inFlight - b.inFlight || a.lastUsedAt - b.lastUsedAt);
        for (const r of candidates.slice(0, surplus)) this.#retire(r);
      }
      return;
    }
    for (let n = live.length; n < spec.minWarm; n++) this.#start();
    let count = live.length;
    for (const r of ready) {
      if (count <= spec.minWarm) break;
      if (r.inFlight === 0 && clock.now() - r.lastUsedAt >= spec.idleTimeoutMs) {
        this.#retire(r);
        count -= 1;
      }
    }
  }

  /** The end of the run: waiters past their time are 503s, every container stops. */
  stop(): void {
    this.#stopped = true;
    this.#expireWaiters();
    for (const r of [...this.#replicas]) this.#stopReplica(r);
  }

  #pick(): SimReplica | undefined {
    let best: SimReplica | undefined;
    for (const r of this.#replicas) {
      if (r.state !== 'ready' || r.inFlight >= this.ctx.spec.maxConcurrency) continue;
      if (!best || r.inFlight < best.inFlight) best = r;
    }
    return best;
  }

  #run(r: SimReplica, w: Waiter): void {
    const { clock, stats, meter } = this.ctx;
    r.inFlight += 1;
    meter.maxInFlightPerContainer = Math.max(meter.maxInFlightPerContainer, r.inFlight);
    const wait = Math.round(clock.now() - w.arrivedAt);
    meter.waits.push(wait);
    if (wait > 0 && w.firstBurst) meter.firstBurstColdWaits += 1;
    this.ctx.onServed?.(this.name, w.arrivedAt, wait);
    clock.setTimeout(() => {
      stats.onFinish(this.name, w.durationMs);
      this.#release(r);
    }, w.durationMs);
  }

  /** Waiters past the queue time are 503s; Pool rejects them by timer, the model when it looks. */
  #expireWaiters(): void {
    const { clock, stats, meter, queueTimeoutMs } = this.ctx;
    while (this.#waiters.length > 0 && clock.now() - this.#waiters[0]!.arrivedAt >= queueTimeoutMs) {
      this.#waiters.shift();
      meter.rejected += 1;
      stats.onFinish(this.name);
    }
  }

  #dispatch(): void {
    this.#expireWaiters();
    while (this.#waiters.length > 0) {
      const r = this.#pick();
      if (!r) break;
      this.#run(r, this.#waiters.shift()!);
    }
  }

  #release(r: SimReplica): void {
    r.inFlight -= 1;
    r.lastUsedAt = this.ctx.clock.now();
    if (r.state === 'draining' && r.inFlight === 0) {
      this.#stopReplica(r);
      return;
    }
    this.#dispatch();
  }

  #start(): void {
    const { clock, meter, startMs } = this.ctx;
    const r: SimReplica = { state: 'starting', inFlight: 0, startedAt: clock.now(), lastUsedAt: clock.now() };
    this.#replicas.push(r);
    meter.containerStarts += 1;
    meter.live += 1;
    meter.peakContainers = Math.max(meter.peakContainers, meter.live);
    clock.setTimeout(() => {
      if (!this.#replicas.includes(r)) return; // retired while starting
      r.state = 'ready';
      r.lastUsedAt = clock.now();
      this.#dispatch();
      this.reconcile(); // Pool's onChange enqueues the function
    }, startMs);
  }

  #retire(r: SimReplica): void {
    if (r.state === 'draining') return;
    if (r.state === 'starting' || r.inFlight === 0) this.#stopReplica(r);
    else r.state = 'draining';
  }

  #stopReplica(r: SimReplica): void {
    const { clock, meter, endMs } = this.ctx;
    this.#replicas = this.#replicas.filter((x) => x !== r);
    meter.live -= 1;
    meter.containerMs += Math.max(0, Math.min(clock.now(), endMs) - Math.min(r.startedAt, endMs));
  }

  #scaleForWaiters(): void {
    const { spec } = this.ctx;
    const starting = this.#replicas.filter((r) => r.state === 'starting').length;
    const live = this.#replicas.filter((r) => r.state === 'starting' || r.state === 'ready').length;
    if (this.#waiters.length <= starting * spec.maxConcurrency || live >= spec.maxReplicas) return;
    this.#start();
  }
}
