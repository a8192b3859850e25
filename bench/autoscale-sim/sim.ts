/**
 * A trace simulator for the autoscaler. It runs the real {@link Autoscaler} and
 * {@link TrafficStats} on a {@link FakeClock} against a model of each function's pool and
 * reconciler (model.ts), and counts what a user would feel (requests that waited for a
 * container) and what it costs (container-seconds). The reconciler runs at every 1-s tick,
 * when a container became ready, and when the autoscaler announces a new recommendation.
 *
 * Policies:
 * - `reactive`: no autoscaler. Containers start only when a request finds no room; a
 *   container is stopped once it has been idle for `idleTimeoutMs` (above minWarm).
 * - `ewma`: the reconciler converges to `Autoscaler.recommend` with policy `ewma` (the EWMA
 *   and a fixed keep-alive of one container), retiring surplus replicas idle ones first.
 * - `hybrid`: the same with policy `hybrid`, the runtime's: the EWMA sizes, the idle-time
 *   histogram decides when an idle function keeps or pre-warms its containers.
 * The pool's own start for waiters stays under every policy, as in production.
 */
import { Autoscaler } from '../../controller/autoscaling/autoscaler.js';
import { FakeClock } from '../../controller/support/clock.js';
import { TrafficStats } from '../../controller/autoscaling/traffic-stats.js';
import { Meter, SimFunction, type SimSpec } from './model.js';
import { prng, type Trace, type Workload } from './traces.js';

export type { SimSpec } from './model.js';

export type Policy = 'reactive' | 'ewma' | 'hybrid';

export const POLICIES: readonly Policy[] = ['reactive', 'ewma', 'hybrid'];

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
  /** Sees every served request: its function, when it arrived and how long it waited for a container. */
  onServed?: (name: string, arrivedAt: number, waitMs: number) => void;
}

/** The outcome of one run (all functions of the trace together). */
export interface SimResult {
  trace: string;
  policy: Policy;
  requests: number;
  /** Requests that waited for a container (Pool's `coldStart`). */
  coldWaits: number;
  /** Of those, requests of a function's first burst (its requests until its first pause of 2 s, at most 10 s). */
  firstBurstColdWaits: number;
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

/** The spec of the simulated functions unless a run overrides it. */
export const DEFAULT_SIM_SPEC: SimSpec = {
  maxConcurrency: 10,
  minWarm: 0,
  maxReplicas: 10,
  scaleDownDelayMs: 60_000,
  idleTimeoutMs: 600_000,
};

const TICK_MS = 1000;
/** After the last arrival, time for queued and running requests to finish. */
const DRAIN_MS = 60_000;
/** A function's first burst ends at its first pause this long, or this long after its first request. */
const FIRST_BURST_PAUSE_MS = 2000;
const FIRST_BURST_MAX_MS = 10_000;

/** How many of a workload's requests belong to its first burst. */
export function firstBurstLength(w: Workload): number {
  const a = w.arrivals;
  if (a.length === 0) return 0;
  let n = 1;
  while (n < a.length && a[n]! - a[n - 1]! < FIRST_BURST_PAUSE_MS && a[n]! - a[0]! < FIRST_BURST_MAX_MS) n++;
  return n;
}

/** Runs one trace under one policy. */
export function simulate(options: SimOptions): SimResult {
  const { trace, policy } = options;
  const spec: SimSpec = { ...DEFAULT_SIM_SPEC, ...options.spec };
  const clock = new FakeClock(0);
  const stats = new TrafficStats({ clock });
  const meter = new Meter();
  const workloads = trace.generate(prng(options.seed ?? 1));
  const byName = new Map<string, SimFunction>();
  const autoscaler = policy === 'reactive' ? null : new Autoscaler({ clock, stats, policy, onRecommendationChange: (name) => byName.get(name)?.reconcile() });
  const ctx = {
    clock,
    stats,
    autoscaler,
    spec,
    startMs: options.startMs ?? 250,
    queueTimeoutMs: options.queueTimeoutMs ?? 10_000,
    maxQueued: options.maxQueued ?? 1000,
    endMs: trace.durationMs,
    meter,
    onServed: options.onServed,
  };
  const functions = workloads.map((w) => new SimFunction(w.name, ctx));
  for (const f of functions) byName.set(f.name, f);

  let stopped = false;
  autoscaler?.start();
  const tick = (): void => {
    for (const f of functions) f.reconcile();
    if (!stopped) clock.setTimeout(tick, TICK_MS);
  };
  clock.setTimeout(tick, TICK_MS);
  for (const f of functions) f.reconcile();

  // One chain of arrival timers per function.
  let requests = 0;
  workloads.forEach((w, i) => {
    const f = functions[i]!;
    const first = firstBurstLength(w);
    const schedule = (k: number): void => {
      if (k >= w.arrivals.length) return;
      clock.setTimeout(() => {
        requests += 1;
        f.arrive(w.durations[k]!, k < first);
        schedule(k + 1);
      }, w.arrivals[k]! - clock.now());
    };
    schedule(0);
  });

  // Advance in steps so the FakeClock's timer scan stays short.
  for (let t = 0; t < trace.durationMs + DRAIN_MS; t += TICK_MS) clock.advance(TICK_MS);
  stopped = true;
  autoscaler?.stop();
  for (const f of functions) f.stop();

  const waits = meter.waits.sort((a, b) => a - b);
  const served = waits.length;
  return {
    trace: trace.name,
    policy,
    requests,
    coldWaits: waits.filter((w) => w > 0).length,
    firstBurstColdWaits: meter.firstBurstColdWaits,
    p99WaitMs: served === 0 ? 0 : waits[Math.min(served - 1, Math.ceil(served * 0.99) - 1)]!,
    maxWaitMs: served === 0 ? 0 : waits[served - 1]!,
    rejected: meter.rejected,
    containerSeconds: Math.round(meter.containerMs / 1000),
    peakContainers: meter.peakContainers,
    containerStarts: meter.containerStarts,
    maxInFlightPerContainer: meter.maxInFlightPerContainer,
  };
}
