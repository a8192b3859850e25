/**
 * A trace simulator for the autoscaler. It runs the real {@link Autoscaler} and
 * {@link TrafficStats} on a {@link FakeClock} against a small model of the pool, the
 * reconciler and the sandbox, and counts what a user would feel (requests that waited for a
 * container) and what it costs (container-seconds).
 *
 * The pool model mirrors controller/pool.ts (which needs real sockets):
 * - routing: the least-loaded ready replica below maxConcurrency; ties go to the first one;
 * - otherwise the request waits in a FIFO queue of at most `maxQueued`, for at most
 *   `queueTimeoutMs` (then it is a 503), and a container is started only when the waiters
 *   outnumber the room of the ones already starting (Pool.#scaleForWaiters), below maxReplicas;
 * - a released or newly ready replica takes the waiters it has room for; those requests are
 *   the "cold-start waits" (Pool marks them `coldStart`);
 * - retiring a replica removes it at once when idle or still starting, else it drains.
 * The sandbox starts a container in `startMs` (default 250 ms) and never fails.
 * The reconciler runs at every 1-s tick, when a container became ready, and when the
 * autoscaler announces a new recommendation. Reconciles take no time.
 *
 * Policies:
 * - `reactive`: no autoscaler. Containers start only when a request finds no room; a
 *   container is stopped once it has been idle for `idleTimeoutMs` (above minWarm).
 * - `ewma`: the reconciler converges to `Autoscaler.recommend` (pre-warming), retiring
 *   surplus replicas idle ones first. The pool's own start for waiters stays, as in production.
 *
 * Arrivals are a non-homogeneous Poisson process (thinning) and handler durations are
 * log-normal, both from a seeded PRNG, so a run is a pure function of its inputs.
 *
 * When pre-warming pays: no predictor sees the first burst coming, so both policies pay for
 * it alike. What the EWMA policy keeps is memory: its stable window holds the capacity of a
 * burst for `scaleDownDelayMs`, so a burst that recurs within the window finds it warm. A
 * reactive pool keeps a container for `idleTimeoutMs` after its last request, and because
 * least-loaded routing spreads even light traffic over every replica, it keeps about as many
 * containers as requests were ever in flight at once. With maxConcurrency 10 that covers a
 * 10x burst, so with the spec defaults the two policies wait about equally and pre-warming
 * mostly saves container-seconds. With one request per container and a short idle timeout
 * (the `lambda-like` scenario: idle 30 s < burst period 45 s < stable window 60 s), the
 * reactive pool gives burst containers back between bursts and pays at every burst.
 */
import { Autoscaler } from '../../controller/autoscaling/autoscaler.js';
import { FakeClock } from '../../controller/support/clock.js';
import { TrafficStats } from '../../controller/autoscaling/traffic-stats.js';

/** The spec fields the simulation uses. */
export interface SimSpec {
  maxConcurrency: number;
  minWarm: number;
  maxReplicas: number;
  scaleDownDelayMs: number;
  idleTimeoutMs: number;
}

/** A generated workload. */
export interface Trace {
  name: string;
  /** One line for the table's legend. */
  description: string;
  durationMs: number;
  /** Arrival rate in requests per second at time `t` (ms). */
  rate(t: number): number;
  /** An upper bound of `rate`, for thinning. */
  maxRate: number;
  /** Mean handler duration; durations are log-normal around it. */
  meanDurationMs: number;
}

export type Policy = 'reactive' | 'ewma';

/** What one run needs; everything but trace and policy has a default. */
export interface SimOptions {
  trace: Trace;
  policy: Policy;
  seed?: number;
  /** Container start time. Default 250 ms. */
  startMs?: number;
  spec?: Partial<SimSpec>;
  queueTimeoutMs?: number;
  maxQueued?: number;
  /** Sees every served request: when it arrived and how long it waited for a container. */
  onServed?: (arrivedAt: number, waitMs: number) => void;
}

/** The outcome of one run. */
export interface SimResult {
  trace: string;
  policy: Policy;
  requests: number;
  /** Requests that waited for a container (Pool's `coldStart`). */
  coldWaits: number;
  /** 99th percentile of the wait of every served request (0 for most). */
  p99WaitMs: number;
  maxWaitMs: number;
  /** Requests that got no container within the queue limits (503). */
  rejected: number;
  /** Container lifetime, starting time included, within the trace. */
  containerSeconds: number;
  peakContainers: number;
  containerStarts: number;
  /** The most requests one container ever ran at once (routing must keep it <= maxConcurrency). */
  maxInFlightPerContainer: number;
}

/** The spec of the simulated function unless a run overrides it. */
export const DEFAULT_SIM_SPEC: SimSpec = {
  maxConcurrency: 10,
  minWarm: 0,
  maxReplicas: 10,
  scaleDownDelayMs: 60_000,
  idleTimeoutMs: 600_000,
};

/** mulberry32: a small, fast, seedable PRNG; good enough for workloads. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MINUTE = 60_000;

/** Constant rate. */
export function steadyTrace(options: { rps?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const rps = options.rps ?? 50;
  return {
    name: 'steady',
    description: `${rps} req/s throughout`,
    durationMs: options.durationMs ?? 10 * MINUTE,
    rate: () => rps,
    maxRate: rps,
    meanDurationMs: options.meanDurationMs ?? 100,
  };
}

/** A day compressed into `periodMs`: the rate follows a cosine from `lowRps` up to `highRps` and back. */
export function diurnalTrace(options: { lowRps?: number; highRps?: number; periodMs?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const low = options.lowRps ?? 5;
  const high = options.highRps ?? 150;
  const period = options.periodMs ?? 10 * MINUTE;
  return {
    name: 'diurnal',
    description: `${low} -> ${high} -> ${low} req/s, cosine, period ${period / 1000} s`,
    durationMs: options.durationMs ?? period,
    rate: (t) => low + ((high - low) * (1 - Math.cos((2 * Math.PI * t) / period))) / 2,
    maxRate: high,
    meanDurationMs: options.meanDurationMs ?? 100,
  };
}

/**
 * A base rate with sudden bursts of `factor` times it, every `everyMs` for `lengthMs`. The
 * bursts are periodic on purpose: that is the burst pattern a predictor can learn.
 */
export function burstTrace(
  options: { baseRps?: number; factor?: number; everyMs?: number; lengthMs?: number; firstAtMs?: number; durationMs?: number; meanDurationMs?: number } = {},
): Trace {
  const base = options.baseRps ?? 10;
  const factor = options.factor ?? 10;
  const every = options.everyMs ?? 45_000;
  const length = options.lengthMs ?? 5000;
  const first = options.firstAtMs ?? 20_000;
  return {
    name: 'burst',
    description: `${base} req/s, ${factor}x for ${length / 1000} s every ${every / 1000} s`,
    durationMs: options.durationMs ?? 10 * MINUTE,
    rate: (t) => (t >= first && (t - first) % every < length ? base * factor : base),
    maxRate: base * factor,
    meanDurationMs: options.meanDurationMs ?? 100,
  };
}

/** `onMs` of traffic at `rps`, then `offMs` of none, repeated. */
export function onOffTrace(options: { rps?: number; onMs?: number; offMs?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const rps = options.rps ?? 50;
  const on = options.onMs ?? 60_000;
  const off = options.offMs ?? 90_000;
  return {
    name: 'on-off',
    description: `${rps} req/s for ${on / 1000} s, then ${off / 1000} s of nothing, repeated`,
    durationMs: options.durationMs ?? 10 * MINUTE,
    rate: (t) => (t % (on + off) < on ? rps : 0),
    maxRate: rps,
    meanDurationMs: options.meanDurationMs ?? 100,
  };
}

/** The traces of the README table. */
export function standardTraces(): Trace[] {
  return [steadyTrace(), diurnalTrace(), burstTrace(), onOffTrace()];
}

type ReplicaState = 'starting' | 'ready' | 'draining';

interface SimReplica {
  id: number;
  state: ReplicaState;
  inFlight: number;
  startedAt: number;
  lastUsedAt: number;
}

interface Waiter {
  arrivedAt: number;
  durationMs: number;
}

const NAME = 'fn';
const TICK_MS = 1000;
/** After the last arrival, time for queued and running requests to finish. */
const DRAIN_MS = 60_000;

/** Runs one trace under one policy. */
export function simulate(options: SimOptions): SimResult {
  const { trace, policy } = options;
  const spec: SimSpec = { ...DEFAULT_SIM_SPEC, ...options.spec };
  const startMs = options.startMs ?? 250;
  const queueTimeoutMs = options.queueTimeoutMs ?? 10_000;
  const maxQueued = options.maxQueued ?? 1000;
  const random = prng(options.seed ?? 1);
  const clock = new FakeClock(0);
  const stats = new TrafficStats({ clock });

  let replicas: SimReplica[] = [];
  const waiters: Waiter[] = [];
  let nextId = 1;
  let containerMs = 0;
  let peakContainers = 0;
  let maxInFlightPerContainer = 0;
  let containerStarts = 0;
  let requests = 0;
  let rejected = 0;
  const waits: number[] = [];
  let stopped = false;

  const stopReplica = (r: SimReplica): void => {
    replicas = replicas.filter((x) => x !== r);
    containerMs += Math.max(0, Math.min(clock.now(), trace.durationMs) - Math.min(r.startedAt, trace.durationMs));
  };

  // --- the pool model -------------------------------------------------------------------
  const pick = (): SimReplica | undefined => {
    let best: SimReplica | undefined;
    for (const r of replicas) {
      if (r.state !== 'ready' || r.inFlight >= spec.maxConcurrency) continue;
      if (!best || r.inFlight < best.inFlight) best = r;
    }
    return best;
  };

  const run = (r: SimReplica, arrivedAt: number, durationMs: number): void => {
    r.inFlight += 1;
    maxInFlightPerContainer = Math.max(maxInFlightPerContainer, r.inFlight);
    const wait = Math.round(clock.now() - arrivedAt);
    waits.push(wait);
    options.onServed?.(arrivedAt, wait);
    clock.setTimeout(() => {
      stats.onFinish(NAME, durationMs);
      release(r);
    }, durationMs);
  };

  /** Waiters past the queue time are 503s; Pool rejects them by timer, the model when it looks. */
  const expireWaiters = (): void => {
    while (waiters.length > 0 && clock.now() - waiters[0]!.arrivedAt >= queueTimeoutMs) {
      waiters.shift();
      rejected += 1;
      stats.onFinish(NAME);
    }
  };

  const dispatch = (): void => {
    expireWaiters();
    while (waiters.length > 0) {
      const r = pick();
      if (!r) break;
      const w = waiters.shift()!;
      run(r, w.arrivedAt, w.durationMs);
    }
  };

  const release = (r: SimReplica): void => {
    r.inFlight -= 1;
    r.lastUsedAt = clock.now();
    if (r.state === 'draining' && r.inFlight === 0) {
      stopReplica(r);
      return;
    }
    dispatch();
  };

  const start = (): void => {
    const r: SimReplica = { id: nextId++, state: 'starting', inFlight: 0, startedAt: clock.now(), lastUsedAt: clock.now() };
    replicas.push(r);
    containerStarts += 1;
    peakContainers = Math.max(peakContainers, replicas.length);
    clock.setTimeout(() => {
      if (!replicas.includes(r)) return; // retired while starting
      r.state = 'ready';
      r.lastUsedAt = clock.now();
      dispatch();
      reconcile(); // Pool's onChange enqueues the function
    }, startMs);
  };

  const retire = (r: SimReplica): void => {
    if (r.state === 'draining') return;
    if (r.state === 'starting' || r.inFlight === 0) stopReplica(r);
    else r.state = 'draining';
  };

  const scaleForWaiters = (): void => {
    const starting = replicas.filter((r) => r.state === 'starting').length;
    const live = replicas.filter((r) => r.state === 'starting' || r.state === 'ready').length;
    if (waiters.length <= starting * spec.maxConcurrency || live >= spec.maxReplicas) return;
    start();
  };

  const acquire = (durationMs: number): void => {
    const arrivedAt = clock.now();
    const r = pick();
    if (r) {
      run(r, arrivedAt, durationMs);
      return;
    }
    expireWaiters();
    if (waiters.length >= maxQueued) {
      rejected += 1;
      stats.onFinish(NAME);
      return;
    }
    waiters.push({ arrivedAt, durationMs });
    scaleForWaiters();
  };

  // --- the reconciler model -------------------------------------------------------------
  let autoscaler: Autoscaler | null = null;

  const reconcile = (): void => {
    if (stopped) return;
    const live = replicas.filter((r) => r.state === 'starting' || r.state === 'ready');
    const ready = live.filter((r) => r.state === 'ready');
    if (autoscaler) {
      autoscaler.observe(NAME, spec, ready.length);
      const target = autoscaler.recommend(NAME);
      for (let n = live.length; n < target; n++) start();
      // Surplus: idle replicas first (least recently used first), then the least busy drain.
      const surplus = live.length - target;
      if (surplus > 0) {
        const candidates = [...ready].sort((a, b) => a.inFlight - b.inFlight || a.lastUsedAt - b.lastUsedAt);
        for (const r of candidates.slice(0, surplus)) retire(r);
      }
    } else {
      for (let n = live.length; n < spec.minWarm; n++) start();
      let count = live.length;
      for (const r of ready) {
        if (count <= spec.minWarm) break;
        if (r.inFlight === 0 && clock.now() - r.lastUsedAt >= spec.idleTimeoutMs) {
          retire(r);
          count -= 1;
        }
      }
    }
  };

  if (policy === 'ewma') {
    autoscaler = new Autoscaler({ clock, stats, onRecommendationChange: () => reconcile() });
    autoscaler.start();
  }
  const tick = (): void => {
    reconcile();
    if (!stopped) clock.setTimeout(tick, TICK_MS);
  };
  clock.setTimeout(tick, TICK_MS);
  reconcile();

  // --- the workload ---------------------------------------------------------------------
  const sigma = 0.5;
  const mu = Math.log(trace.meanDurationMs) - (sigma * sigma) / 2;
  const duration = (): number => {
    const u1 = Math.max(random(), 1e-12);
    const u2 = random();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return Math.max(1, Math.round(Math.exp(mu + sigma * z)));
  };
  /** The next arrival after `t` by thinning, or null past the trace. */
  const nextArrival = (t: number): number | null => {
    for (;;) {
      t += (-Math.log(1 - random()) * 1000) / trace.maxRate;
      if (t >= trace.durationMs) return null;
      if (random() * trace.maxRate < trace.rate(t)) return t;
    }
  };
  const schedule = (after: number): void => {
    const at = nextArrival(after);
    if (at === null) return;
    clock.setTimeout(() => {
      requests += 1;
      stats.onStart(NAME);
      acquire(duration());
      schedule(at);
    }, at - clock.now());
  };
  if (trace.maxRate > 0) schedule(0);

  // Advance in steps so the FakeClock's timer scan stays short.
  for (let t = 0; t < trace.durationMs + DRAIN_MS; t += TICK_MS) clock.advance(TICK_MS);
  stopped = true;
  autoscaler?.stop();
  expireWaiters();
  for (const r of [...replicas]) stopReplica(r);

  waits.sort((a, b) => a - b);
  const served = waits.length;
  return {
    trace: trace.name,
    policy,
    requests,
    coldWaits: waits.filter((w) => w > 0).length,
    p99WaitMs: served === 0 ? 0 : waits[Math.min(served - 1, Math.ceil(served * 0.99) - 1)]!,
    maxWaitMs: served === 0 ? 0 : waits[served - 1]!,
    rejected,
    containerSeconds: Math.round(containerMs / 1000),
    peakContainers,
    containerStarts,
    maxInFlightPerContainer,
  };
}

/** A named function spec the table is run with. */
export interface Scenario {
  name: string;
  description: string;
  spec: Partial<SimSpec>;
}

/**
 * The scenarios of the README table.
 * - `default`: the spec defaults (maxConcurrency 10, idle timeout 10 min).
 * - `lambda-like`: one request per container and a 30-s idle timeout (Knative's
 *   scale-to-zero grace), so a reactive pool gives burst containers back between bursts.
 */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'default', description: 'spec defaults: maxConcurrency 10, maxReplicas 10, scaleDownDelayMs 60000, idleTimeoutMs 600000', spec: { maxReplicas: 10 } },
  {
    name: 'lambda-like',
    description: 'maxConcurrency 1, maxReplicas 50, scaleDownDelayMs 60000, idleTimeoutMs 30000',
    spec: { maxConcurrency: 1, maxReplicas: 50, idleTimeoutMs: 30_000 },
  },
];

/** One row of the table. */
export interface ScenarioResult extends SimResult {
  scenario: string;
}

/** Every trace under both policies in every scenario; `spec` overrides the scenarios' specs. */
export function runAll(
  options: { seed?: number; startMs?: number; spec?: Partial<SimSpec>; traces?: Trace[]; scenarios?: readonly Scenario[] } = {},
): ScenarioResult[] {
  const results: ScenarioResult[] = [];
  for (const scenario of options.scenarios ?? SCENARIOS) {
    for (const trace of options.traces ?? standardTraces()) {
      for (const policy of ['reactive', 'ewma'] as const) {
        const spec = { ...scenario.spec, ...options.spec };
        results.push({ scenario: scenario.name, ...simulate({ trace, policy, seed: options.seed, startMs: options.startMs, spec }) });
      }
    }
  }
  return results;
}

/** The results as a markdown table, one row per scenario, trace and policy. */
export function markdownTable(results: readonly ScenarioResult[]): string {
  const head = ['scenario', 'trace', 'policy', 'requests', 'cold-start waits', 'p99 wait ms', 'max wait ms', '503s', 'container-s', 'peak containers', 'starts'];
  const rows = results.map((r) => [
    r.scenario,
    r.trace,
    r.policy === 'ewma' ? 'EWMA pre-warm' : 'reactive only',
    String(r.requests),
    String(r.coldWaits),
    String(r.p99WaitMs),
    String(r.maxWaitMs),
    String(r.rejected),
    String(r.containerSeconds),
    String(r.peakContainers),
    String(r.containerStarts),
  ]);
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i < 3 ? '---' : '---:'))), ...rows.map(line)].join('\n') + '\n';
}
