import { describe, expect, it } from 'vitest';
import { Autoscaler, type ScalingPolicy, type ScalingSpec } from './autoscaler.js';
import { FakeClock } from '../support/clock.js';
import { TrafficStats } from './traffic-stats.js';

const NAME = 'f';

/** An autoscaler on a fake clock, and a reconciler that asks it once a second (what `desired` records). */
function setup(policy: ScalingPolicy = 'hybrid', spec: Partial<ScalingSpec> = {}) {
  const clock = new FakeClock(0);
  const stats = new TrafficStats({ clock });
  const changes: number[] = [];
  const autoscaler = new Autoscaler({ clock, stats, policy, onRecommendationChange: () => changes.push(clock.now()) });
  autoscaler.start();
  const scaling: ScalingSpec = { maxConcurrency: 1, minWarm: 0, maxReplicas: 20, scaleDownDelayMs: 60_000, idleTimeoutMs: 5000, ...spec };
  /** Recommendation at each whole second, as a reconcile would see it. */
  const seen = new Map<number, number>();
  const reconcile = (): void => {
    autoscaler.observe(NAME, scaling, 0);
    seen.set(clock.now(), autoscaler.recommend(NAME));
    clock.setTimeout(reconcile, 1000);
  };
  clock.setTimeout(reconcile, 1000);
  /** `size` requests at once, each taking `durationMs`. */
  const burst = (size: number, durationMs = 200): void => {
    for (let i = 0; i < size; i++) stats.onStart(NAME);
    clock.setTimeout(() => {
      for (let i = 0; i < size; i++) stats.onFinish(NAME, durationMs);
    }, durationMs);
  };
  /** Bursts at these times (ms), then the clock runs to `until`. */
  const run = (bursts: Array<[at: number, size: number]>, until: number): void => {
    for (const [at, size] of bursts) clock.setTimeout(() => burst(size), at - clock.now());
    clock.advance(until - clock.now());
  };
  return { clock, stats, autoscaler, changes, seen, run, at: (ms: number) => seen.get(ms) };
}

/** Bursts of 3 requests every 20 s, the first at 10.5 s. */
const every20s = (count: number): Array<[number, number]> => Array.from({ length: count }, (_, k) => [10_500 + 20_000 * k, 3]);

describe('Autoscaler, idle-time policy (hybrid)', () => {
  it('pre-warms a function with a regular 20-s gap before its next burst, from the third burst on, and unloads it between', () => {
    const t = setup();
    t.run(every20s(6), 130_000);
    // After the first burst: the keep-alive (5 s), then nothing: no idle time is known yet.
    expect(t.at(12_000)).toBe(3);
    expect(t.at(17_000)).toBe(0);
    expect(t.at(30_000)).toBe(0);
    // From the second pause on, the containers are back shortly before each burst is due.
    for (const k of [2, 3, 4, 5]) {
      const due = 10_500 + 20_000 * k;
      expect({ k, before: t.at(due - 500) }).toEqual({ k, before: 3 });
      expect({ k, between: t.at(due - 10_500) }).toEqual({ k, between: 0 });
    }
    // The reconciler hears of the pre-warm at the tick: one change announced just before the third burst.
    expect(t.changes.some((at) => at > 45_000 && at < 50_500)).toBe(true);
  });

  it('policy ewma knows no pre-warm: the same bursts find nothing', () => {
    const t = setup('ewma');
    t.run(every20s(6), 130_000);
    for (const k of [2, 3, 4, 5]) expect(t.at(10_500 + 20_000 * k - 500)).toBe(0);
  });

  it('with spread pauses, keeps the last busy capacity for idleTimeoutMs, then scales to zero (the fallback)', () => {
    const t = setup('hybrid', { idleTimeoutMs: 30_000 });
    const starts = [10_000, 17_000, 70_000, 84_000, 190_000, 198_000];
    t.run(
      starts.map((at) => [at, 2]),
      260_000,
    );
    expect(t.autoscaler.idlePlan(NAME).mode).toBe('fallback');
    expect(t.at(227_000)).toBe(2); // 28.8 s after the last request ended
    expect(t.at(229_000)).toBe(0);
  });

  it('pre-warms the most any of the last busy periods needed, and keeps them while a burst builds up', () => {
    const t = setup();
    const bursts: Array<[number, number]> = [
      [10_500, 2],
      [30_500, 5],
      [50_500, 2],
      [70_500, 2],
    ];
    t.run(bursts, 90_000);
    expect(t.at(90_000)).toBe(5); // due at 90.5 s: pre-warmed for the largest recent burst
    // The next burst starts with one request: the five stay while the EWMA catches up.
    t.run([[90_500, 1]], 95_000);
    expect(t.at(93_000)).toBe(5);
  });

  it('does not count pauses shorter than the traffic stats minIdleMs: such a function stays busy', () => {
    const t = setup();
    t.run(
      Array.from({ length: 20 }, (_, k) => [1000 + 3000 * k, 1] as [number, number]),
      60_000,
    );
    expect(t.stats.idleTimes(NAME)).toBeUndefined();
    for (let s = 2000; s <= 58_000; s += 1000) expect(t.at(s)).toBeGreaterThanOrEqual(1);
  });

  it('sizes a busy function for at most a few requests a minute finding every container busy: more than the EWMA alone', () => {
    const hybrid = setup('hybrid');
    const ewma = setup('ewma');
    for (const t of [hybrid, ewma]) {
      // 50 requests a second of 100 ms: 5 in flight on average, one per container.
      for (let i = 0; i < 1000; i++) t.clock.setTimeout(() => t.stats.onStart(NAME), i * 20 + 10);
      for (let i = 0; i < 1000; i++) t.clock.setTimeout(() => t.stats.onFinish(NAME, 100), i * 20 + 110);
      t.clock.advance(19_000);
    }
    expect(ewma.at(19_000)).toBeGreaterThanOrEqual(8);
    expect(hybrid.at(19_000)!).toBeGreaterThan(ewma.at(19_000)! + 1);
  });
});
