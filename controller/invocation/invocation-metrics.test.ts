import { describe, expect, it } from 'vitest';
import { DURATION_BUCKETS_SECONDS, InvocationMetrics } from './invocation-metrics.js';

const LES = [...DURATION_BUCKETS_SECONDS, Infinity];

/** Cumulative bucket counts as `{le: count}`, for readable expectations. */
function bucketsOf(metrics: InvocationMetrics, name: string): Record<string, number> {
  const snapshot = metrics.snapshot().find((s) => s.name === name);
  return Object.fromEntries((snapshot?.buckets ?? []).map((b) => [String(b.le), b.count]));
}

describe('InvocationMetrics', () => {
  it('has the buckets of a fast runtime, from half a millisecond to ten seconds, then +Inf', () => {
    const metrics = new InvocationMetrics();
    metrics.series('echo', 1).record(200, 1, false);
    expect(metrics.snapshot()[0]?.buckets.map((b) => b.le)).toEqual([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity]);
  });

  it('counts each duration in the first bucket at or above it, and reports the buckets cumulatively', () => {
    const metrics = new InvocationMetrics();
    const echo = metrics.series('echo', 1);
    // In ms: 0.2 and 0.5 (a bound is inclusive) go to le=0.0005, 0.6 and 1 to le=0.001, 3 to 0.005, 40 to 0.05, 10 s to 10, 12 s to +Inf.
    for (const ms of [0.2, 0.5, 0.6, 1, 3, 40, 10_000, 12_000]) echo.record(200, ms, false);
    expect(bucketsOf(metrics, 'echo')).toEqual({
      '0.0005': 2,
      '0.001': 4,
      '0.0025': 4,
      '0.005': 5,
      '0.01': 5,
      '0.025': 5,
      '0.05': 6,
      '0.1': 6,
      '0.25': 6,
      '0.5': 6,
      '1': 6,
      '2.5': 6,
      '5': 6,
      '10': 7,
      Infinity: 8,
    });
    const [snapshot] = metrics.snapshot();
    expect(snapshot?.count).toBe(8);
    expect(snapshot?.sumSeconds).toBeCloseTo(22.0453, 9);
  });

  it('never lets a bucket count fewer than the one below it, and ends at the count', () => {
    const metrics = new InvocationMetrics();
    const fn = metrics.series('fn', 1);
    for (let ms = 0; ms < 20_000; ms += 37) fn.record(200, ms, false);
    const [snapshot] = metrics.snapshot();
    const counts = snapshot!.buckets.map((b) => b.count);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(snapshot!.buckets.map((b) => b.le)).toEqual(LES);
    expect(counts.at(-1)).toBe(snapshot!.count);
  });

  it('counts responses by status in ascending order, leaving out statuses never sent', () => {
    const metrics = new InvocationMetrics();
    const fn = metrics.series('fn', 1);
    for (const code of [200, 500, 200, 429, 504, 200, 502]) fn.record(code, 1, false);
    expect(metrics.snapshot()[0]?.responses).toEqual([
      { code: 200, count: 3 },
      { code: 429, count: 1 },
      { code: 500, count: 1 },
      { code: 502, count: 1 },
      { code: 504, count: 1 },
    ]);
  });

  it('counts cold starts apart from invocations', () => {
    const metrics = new InvocationMetrics();
    const fn = metrics.series('fn', 1);
    fn.record(200, 30, true);
    fn.record(200, 1, false);
    fn.record(500, 1, false);
    expect(metrics.snapshot()[0]).toMatchObject({ count: 3, coldStarts: 1 });
  });

  it('reads a negative or unknown duration as zero', () => {
    const metrics = new InvocationMetrics();
    const fn = metrics.series('fn', 1);
    fn.record(200, -3, false);
    fn.record(200, Number.NaN, false);
    expect(metrics.snapshot()[0]).toMatchObject({ count: 2, sumSeconds: 0 });
    expect(bucketsOf(metrics, 'fn')['0.0005']).toBe(2);
  });

  it('keeps functions apart and hands out the same counters for the same name', () => {
    const metrics = new InvocationMetrics();
    expect(metrics.series('a', 1)).toBe(metrics.series('a', 1));
    metrics.series('a', 1).record(200, 1, false);
    metrics.series('b', 1).record(404, 2, true);
    expect(metrics.snapshot().map((s) => [s.name, s.count, s.responses.map((r) => r.code), s.coldStarts])).toEqual([
      ['a', 1, [200], 0],
      ['b', 1, [404], 1],
    ]);
  });

  it("keeps a function's revisions apart, and forgetting the function drops every one", () => {
    const metrics = new InvocationMetrics();
    metrics.series('split', 7).record(200, 1, false);
    metrics.series('split', 7).record(200, 1, false);
    metrics.series('split', 9).record(500, 1, true);
    expect(metrics.snapshot().map((s) => [s.name, s.revision, s.count, s.coldStarts])).toEqual([
      ['split', 7, 2, 0],
      ['split', 9, 1, 1],
    ]);
    metrics.forget('split');
    expect(metrics.snapshot()).toEqual([]);
  });

  it('drops a forgotten function, and an invocation that outlived it does not bring it back', () => {
    const metrics = new InvocationMetrics();
    const inFlight = metrics.series('gone', 1);
    inFlight.record(200, 1, true);
    metrics.series('kept', 1).record(200, 1, false);
    metrics.forget('gone');
    inFlight.record(200, 1, false);
    expect(metrics.snapshot().map((s) => s.name)).toEqual(['kept']);
    // Deployed again under the same name: counting starts over.
    metrics.series('gone', 1).record(201, 1, false);
    expect(metrics.snapshot().find((s) => s.name === 'gone')).toMatchObject({ count: 1, coldStarts: 0, responses: [{ code: 201, count: 1 }] });
  });
});
