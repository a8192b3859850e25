import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import type { InvocationOutcome } from '../invocation/observer.js';
import type { TickSample } from './function-series.js';
import { LATENCY_BOUNDS_MS, latencyBucket, latencyQuantile, LATENCY_BUCKETS } from './latency-histogram.js';
import { StatsHistory } from './stats-history.js';

const T0 = 1_700_000_000_000; // a whole second

function outcome(patch: Partial<InvocationOutcome> = {}): InvocationOutcome {
  return { admitted: true, statusCode: 200, waitedMs: 2, handlerMs: 1, coldStart: false, record: null, live: true, revision: 1, scalingKey: 'f', ...patch };
}

function setup(seconds = 900) {
  const clock = new FakeClock(T0);
  const samples = new Map<string, TickSample>();
  const functions = new Set(['f']);
  let processCalls = 0;
  const history = new StatsHistory({
    clock,
    seconds,
    functions: () => functions,
    sample: (name) => samples.get(name) ?? { predictedRps: 0, desiredReplicas: 0, readyReplicas: 0, busyReplicas: 0, replicas: 0, panic: false },
    probe: { sample: () => ({ cpuPercent: 12.5 + processCalls++, rssBytes: 100e6, heapUsedBytes: 40e6, eventLoopUtilization: 0.25 }) },
  });
  const observer = history.observer();
  /** One invocation that starts and finishes now. */
  const call = (patch: Partial<InvocationOutcome> = {}) => {
    const o = outcome(patch);
    if (o.admitted) observer.start('f', 'f');
    observer.finish('f', o);
  };
  return { clock, history, observer, samples, functions, call };
}

describe('the latency histogram', () => {
  it('puts a latency in the first bucket whose bound holds it, and past the last one in the overflow bucket', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(0.25)).toBe(0);
    expect(latencyBucket(0.26)).toBe(1);
    expect(latencyBucket(1)).toBe(LATENCY_BOUNDS_MS.indexOf(1));
    expect(latencyBucket(999_999)).toBe(LATENCY_BUCKETS - 1);
  });

  it('reads quantiles by interpolating inside the bucket, null when empty', () => {
    const counts = new Uint32Array(LATENCY_BUCKETS);
    expect(latencyQuantile(counts, 0, 0.5)).toBeNull();
    // 100 calls between 10 and 15 ms (bucket 15), one at 2 s.
    counts[latencyBucket(12)] = 100;
    counts[latencyBucket(2000)] = 1;
    const p50 = latencyQuantile(counts, 0, 0.5)!;
    expect(p50).toBeGreaterThan(10);
    expect(p50).toBeLessThanOrEqual(15);
    expect(latencyQuantile(counts, 0, 0.999)).toBeGreaterThan(1500);
    expect(latencyQuantile(counts, 0, 0.999)).toBeLessThanOrEqual(2500);
  });
});

describe('the stats history', () => {
  it('counts arrivals, responses by class, cold starts and latency in the second they happened, up to the last whole second', () => {
    const { clock, history, call } = setup();
    clock.advance(200);
    call({ coldStart: true, waitedMs: 800 });
    call({ statusCode: 500, waitedMs: 3 });
    clock.advance(1000); // second T0+1
    call({ admitted: false, statusCode: 429, waitedMs: 0 });
    call({ statusCode: 302 });
    clock.advance(1000); // now in T0+2: T0+1 is the last whole second
    const s = history.series('f', 3);
    const t0 = T0 / 1000;
    expect(s.time).toEqual([t0 - 1, t0, t0 + 1]);
    expect(s.requests).toEqual([0, 2, 2]);
    expect(s.responses['2xx']).toEqual([0, 1, 0]);
    expect(s.responses['3xx']).toEqual([0, 0, 1]);
    expect(s.responses['4xx']).toEqual([0, 0, 1]);
    expect(s.responses['5xx']).toEqual([0, 1, 0]);
    expect(s.coldStarts).toEqual([0, 1, 0]);
    expect(s.p50Ms[0]).toBeNull();
    expect(s.p99Ms[1]).toBeGreaterThan(600);
    expect(s.p99Ms[1]).toBeLessThanOrEqual(1000);
    expect(s.p50Ms[2]).toBeLessThanOrEqual(2);
  });

  it("keeps the tick's prediction, replicas and panic per second; a second the tick skipped gets the same sample, a second never sampled reads null", () => {
    const { clock, history, samples } = setup();
    samples.set('f', { predictedRps: 4.321, desiredReplicas: 3, readyReplicas: 2, busyReplicas: 1, replicas: 3, panic: true });
    clock.advance(1000);
    history.tick(); // samples T0
    clock.advance(3000);
    history.tick(); // a late tick: T0+1..T0+3
    clock.advance(1000);
    const s = history.series('f', 6);
    expect(s.predictedRps).toEqual([null, 4.32, 4.32, 4.32, 4.32, null]);
    expect(s.desiredReplicas).toEqual([null, 3, 3, 3, 3, null]);
    expect(s.readyReplicas.slice(1, 5)).toEqual([2, 2, 2, 2]);
    expect(s.busyReplicas.slice(1, 5)).toEqual([1, 1, 1, 1]);
    expect(s.panic).toEqual([null, 1, 1, 1, 1, null]);
    expect(s.requests).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('reuses a slot 15 minutes later without carrying its old counts, and never returns more than it keeps', () => {
    const { clock, history, call } = setup(10);
    call();
    call();
    clock.advance(10_000); // the same slot, ten seconds on
    call();
    clock.advance(1000);
    const s = history.series('f', 900);
    expect(s.time).toHaveLength(10);
    expect(s.requests[s.requests.length - 1]).toBe(1);
    expect(s.requests.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('ignores outcomes of a deleted function and forgets its history, and drops functions no longer live at a tick', () => {
    const { clock, history, observer, functions, call } = setup();
    call();
    observer.finish('f', outcome({ live: false }));
    clock.advance(1000);
    expect(history.series('f', 1).requests).toEqual([1]);
    expect(history.series('f', 1).responses['2xx']).toEqual([1]);
    observer.forget('f');
    expect(history.series('f', 1).requests).toEqual([0]);
    call();
    functions.clear();
    clock.advance(1000);
    history.tick();
    expect(history.overview(1).functions).toEqual([]);
  });

  it('sums the last minute per function in the overview: requests per second now, error rate, cold starts, percentiles, the latest sample and the process', () => {
    const { clock, history, samples, call } = setup();
    samples.set('f', { predictedRps: 2, desiredReplicas: 1, readyReplicas: 1, busyReplicas: 0, replicas: 1, panic: false });
    for (let s = 0; s < 10; s++) {
      call();
      call({ statusCode: s === 0 ? 503 : 200, coldStart: s === 0 });
      clock.advance(1000);
      history.tick();
    }
    const o = history.overview(3);
    expect(o.windowSeconds).toBe(60);
    expect(o.functions).toHaveLength(1);
    const f = o.functions[0]!;
    expect(f).toMatchObject({ name: 'f', requests: 20, responses: 20, errors5xx: 1, coldStarts: 1, requestsPerSecond: 2, errorRate: 0.05 });
    expect(f.latest).toMatchObject({ predictedRps: 2, desiredReplicas: 1 });
    expect(f.p50Ms).toBeLessThanOrEqual(2);
    expect(o.runtime).toMatchObject({ rssBytes: 100e6, heapUsedBytes: 40e6, eventLoopUtilization: 0.25 });
    expect(o.runtime.series.time).toHaveLength(3);
    expect(o.runtime.series.cpuPercent).toEqual([19.5, 20.5, 21.5]);
  });
});
