import { describe, expect, it } from 'vitest';
import { FunctionSpec, SpecPatch } from '../../schemas/index.js';
import { Autoscaler, type AutoscalerOptions, type ScalingSpec } from './autoscaler.js';
import { FakeClock } from '../support/clock.js';
import { TrafficStats } from './traffic-stats.js';

const NAME = 'f';

function setup(options: Partial<Omit<AutoscalerOptions, 'clock' | 'stats'>> = {}) {
  const clock = new FakeClock(0);
  const stats = new TrafficStats({ clock });
  const changes: string[] = [];
  const autoscaler = new Autoscaler({ clock, stats, onRecommendationChange: (name) => changes.push(name), ...options });
  autoscaler.start();
  return { clock, stats, autoscaler, changes };
}

type Setup = ReturnType<typeof setup>;

/** Evenly spaced requests of `durationMs` at `rps` for `seconds`, then the clock stands at the end. */
function traffic({ clock, stats }: Setup, rps: number, seconds: number, durationMs = 100): void {
  const end = clock.now() + seconds * 1000;
  if (rps > 0) {
    const gap = 1000 / rps;
    const arrive = (): void => {
      stats.onStart(NAME);
      clock.setTimeout(() => stats.onFinish(NAME, durationMs), durationMs);
      if (clock.now() + gap < end) clock.setTimeout(arrive, gap);
    };
    clock.setTimeout(arrive, gap / 2);
  }
  clock.advance(seconds * 1000);
}

/** What a reconcile does: observe the function, then read the recommendation. */
function desired(autoscaler: Autoscaler, name: string, scaling: ScalingSpec, ready: number, lastInvokedAt: number | null = null): number {
  autoscaler.observe(name, scaling, ready, lastInvokedAt);
  return autoscaler.recommend(name);
}

function spec(fields: Partial<ScalingSpec> = {}): ScalingSpec {
  return { maxConcurrency: 10, minWarm: 0, maxReplicas: 10, scaleDownDelayMs: 60_000, idleTimeoutMs: 600_000, ...fields };
}

describe('Autoscaler predictor', () => {
  it('converges to a steady rate and its concurrency', () => {
    const t = setup();
    traffic(t, 50, 20, 100);
    expect(t.autoscaler.predictedRps(NAME)).toBeCloseTo(50, 0);
    expect(t.autoscaler.predictedConcurrency(NAME)).toBeCloseTo(5, 1);
  });

  it('stays near the mean when the rate is noisy', () => {
    const t = setup();
    traffic(t, 50, 10);
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      traffic(t, i % 2 === 0 ? 40 : 60, 1);
      seen.push(t.autoscaler.predictedRps(NAME));
    }
    for (const p of seen) expect(Math.abs(p - 50)).toBeLessThan(7);
  });

  it('responds to a 10x spike within a tick or two (dynamic alpha)', () => {
    const t = setup();
    traffic(t, 10, 30);
    traffic(t, 100, 1);
    expect(t.autoscaler.predictedRps(NAME)).toBeGreaterThan(85); // alpha hit aMax (0.9)
    traffic(t, 100, 1);
    expect(t.autoscaler.predictedRps(NAME)).toBeGreaterThan(92);
  });

  it('with a fixed alpha (aMax = a0) the same spike takes many ticks: the dynamic alpha is what reacts', () => {
    const t = setup({ a0: 0.2, aMin: 0.2, aMax: 0.2 });
    traffic(t, 10, 30);
    traffic(t, 100, 2);
    expect(t.autoscaler.predictedRps(NAME)).toBeLessThan(50);
  });

  it('decays to exactly zero after traffic stops', () => {
    const t = setup();
    traffic(t, 50, 10);
    traffic(t, 0, 3);
    expect(t.autoscaler.predictedRps(NAME)).toBeLessThan(5);
    traffic(t, 0, 30);
    expect(t.autoscaler.predictedRps(NAME)).toBe(0);
    expect(t.autoscaler.predictedConcurrency(NAME)).toBe(0);
  });

  it('ticks on the bucket boundaries of the clock until stopped', () => {
    const t = setup();
    traffic(t, 20, 1.5);
    expect(t.autoscaler.predictedRps(NAME)).toBeGreaterThan(0); // bucket 0 was fed at 1000
    const timers = t.clock.pending;
    t.autoscaler.stop();
    expect(t.clock.pending).toBe(timers - 1);
    traffic(t, 200, 3);
    expect(t.autoscaler.predictedRps(NAME)).toBeLessThan(25);
  });
});

describe('Autoscaler recommendation', () => {
  it('recommends ceil(predicted concurrency / (maxConcurrency x 0.7)) (the EWMA sizing, policy ewma)', () => {
    const t = setup({ policy: 'ewma' });
    traffic(t, 30, 20, 500); // concurrency 15 -> 15 / 7 = 2.1 -> 3
    expect(desired(t.autoscaler, NAME, spec(), 3)).toBe(3);
    expect(desired(t.autoscaler, NAME, spec({ maxConcurrency: 4 }), 3)).toBe(6); // 15 / 2.8 = 5.4
  });

  it('covers the peak in flight at full load when it needs more than the mean with headroom', () => {
    const t = setup();
    traffic(t, 2, 20, 100);
    // Concurrency 0.2 but requests arrive in pairs: the peak, 2, needs 2 one-request containers.
    const { clock, stats } = t;
    for (let i = 0; i < 5; i++) {
      stats.onStart(NAME);
      stats.onStart(NAME);
      clock.advance(100);
      stats.onFinish(NAME, 100);
      stats.onFinish(NAME, 100);
      clock.advance(900);
    }
    expect(desired(t.autoscaler, NAME, spec({ maxConcurrency: 1 }), 2)).toBe(2);
  });

  it('clamps to minWarm and maxReplicas', () => {
    const t = setup();
    traffic(t, 100, 20, 1000); // concurrency 100 -> 15 replicas
    expect(desired(t.autoscaler, NAME, spec({ maxReplicas: 4 }), 4)).toBe(4);
    expect(desired(t.autoscaler, 'idle', spec({ minWarm: 2 }), 0)).toBe(2);
    expect(desired(t.autoscaler, 'idle', spec(), 0)).toBe(0);
  });

  it('scales up at the next tick but down only after the stable window', () => {
    const t = setup();
    desired(t.autoscaler, NAME, spec(), 0);
    traffic(t, 5, 10, 200); // concurrency 1
    expect(desired(t.autoscaler, NAME, spec(), 1)).toBe(1);
    traffic(t, 50, 2, 500); // concurrency 25 -> 4
    expect(desired(t.autoscaler, NAME, spec(), 4)).toBe(4);
    traffic(t, 5, 57, 200);
    expect(desired(t.autoscaler, NAME, spec(), 4)).toBe(4); // the peak's tick is 56 s old
    traffic(t, 5, 8, 200);
    expect(desired(t.autoscaler, NAME, spec(), 4)).toBe(1);
    expect(desired(t.autoscaler, NAME, spec({ scaleDownDelayMs: 0 }), 4)).toBe(1);
  });

  it('without a stable window it follows the prediction down', () => {
    const t = setup({ policy: 'ewma' });
    const s = spec({ scaleDownDelayMs: 0 });
    desired(t.autoscaler, NAME, s, 0);
    traffic(t, 50, 5, 500);
    expect(desired(t.autoscaler, NAME, s, 4)).toBe(4);
    traffic(t, 5, 10, 200);
    expect(desired(t.autoscaler, NAME, s, 4)).toBe(1);
  });

  it('panics when observed concurrency exceeds twice the ready capacity: scales at once and never down while it lasts', () => {
    const t = setup({ policy: 'ewma' });
    const s = spec({ scaleDownDelayMs: 0 });
    traffic(t, 5, 10, 200); // concurrency 1
    expect(desired(t.autoscaler, NAME, s, 1)).toBe(1); // 1 ready container holds 10
    traffic(t, 100, 1, 300); // concurrency 25 (ramping up) > 2 x 10
    expect(t.autoscaler.panicking(NAME)).toBe(true);
    expect(desired(t.autoscaler, NAME, s, 1)).toBe(4); // ceil(25.5 / 7)
    traffic(t, 100, 1, 300); // concurrency 30
    expect(desired(t.autoscaler, NAME, s, 1)).toBe(5); // ceil(30 / 7)
    const during = desired(t.autoscaler, NAME, s, 1);
    traffic(t, 5, 4, 200); // traffic is gone, but panic holds for its 6-s window
    expect(t.autoscaler.panicking(NAME)).toBe(true);
    expect(desired(t.autoscaler, NAME, s, 5)).toBe(during);
    traffic(t, 5, 4, 200);
    expect(t.autoscaler.panicking(NAME)).toBe(false);
    expect(desired(t.autoscaler, NAME, s, 5)).toBe(1);
  });

  it('does not panic below twice the ready capacity', () => {
    const t = setup();
    traffic(t, 5, 10, 200);
    desired(t.autoscaler, NAME, spec(), 1);
    traffic(t, 50, 2, 300); // concurrency 15 = 1.5 x 10
    expect(t.autoscaler.panicking(NAME)).toBe(false);
  });

  it('never recommends less than the requests in flight now, even between ticks', () => {
    const t = setup();
    t.autoscaler.stop();
    for (let i = 0; i < 25; i++) t.stats.onStart(NAME);
    expect(desired(t.autoscaler, NAME, spec(), 1)).toBe(3);
  });

  it('keeps one container until idleTimeoutMs without requests, then scales to zero', () => {
    const t = setup();
    const s = spec({ idleTimeoutMs: 120_000 });
    traffic(t, 20, 10, 100);
    traffic(t, 0, 100);
    expect(desired(t.autoscaler, NAME, s, 1)).toBe(1);
    traffic(t, 0, 25);
    expect(desired(t.autoscaler, NAME, s, 1)).toBe(0);
    expect(desired(t.autoscaler, NAME, { ...s, minWarm: 2 }, 1)).toBe(2);
  });

  it('counts the stored last invocation (it outlives a restart) toward the idle timeout, and ticks scale to zero after it', () => {
    const t = setup();
    t.clock.advance(1_000_000); // a fresh runtime: its traffic stats have seen nothing
    const s = spec({ idleTimeoutMs: 120_000 });
    expect(desired(t.autoscaler, NAME, s, 1, null)).toBe(0);
    expect(desired(t.autoscaler, NAME, s, 1, t.clock.now() - 130_000)).toBe(0);
    expect(desired(t.autoscaler, NAME, s, 1, t.clock.now() - 60_000)).toBe(1);
    t.changes.length = 0;
    t.clock.advance(59_000);
    expect(t.changes).toEqual([]);
    t.clock.advance(2_000);
    expect(t.changes).toEqual([NAME]);
    expect(desired(t.autoscaler, NAME, s, 1, t.clock.now() - 121_000)).toBe(0);
  });

  it('scales to zero after idleTimeoutMs even inside the stable window, under both policies', () => {
    for (const policy of ['ewma', 'hybrid'] as const) {
      const t = setup({ policy });
      const s = spec({ idleTimeoutMs: 5000 });
      desired(t.autoscaler, NAME, s, 0);
      traffic(t, 50, 5, 500);
      expect(desired(t.autoscaler, NAME, s, 4)).toBeGreaterThanOrEqual(4);
      traffic(t, 0, 6);
      expect(desired(t.autoscaler, NAME, s, 4)).toBe(0);
    }
  });

  it('announces each change of recommendation once, at the tick', () => {
    const t = setup();
    const s = spec({ idleTimeoutMs: 10_000, scaleDownDelayMs: 5000 });
    expect(desired(t.autoscaler, NAME, s, 0)).toBe(0);
    traffic(t, 5, 5, 200);
    expect(t.changes).toEqual([NAME]); // 0 -> 1
    desired(t.autoscaler, NAME, s, 1);
    traffic(t, 0, 9);
    expect(t.changes).toEqual([NAME]);
    traffic(t, 0, 3);
    expect(t.changes).toEqual([NAME, NAME]); // 1 -> 0 after the idle timeout
    expect(desired(t.autoscaler, NAME, s, 1)).toBe(0);
  });

  it('uses the spec defaults for records stored without the window fields', () => {
    const t = setup();
    const old: ScalingSpec = { maxConcurrency: 10, minWarm: 0, maxReplicas: 10 };
    traffic(t, 50, 5, 500);
    const busy = desired(t.autoscaler, NAME, old, 4);
    traffic(t, 0, 120);
    expect(desired(t.autoscaler, NAME, old, 4)).toBe(busy); // kept alive: the idle timeout (10 min) has not passed
    traffic(t, 0, 481);
    expect(desired(t.autoscaler, NAME, old, 4)).toBe(0);
    const e = setup({ policy: 'ewma' });
    traffic(e, 50, 5, 500);
    traffic(e, 0, 120);
    expect(desired(e.autoscaler, NAME, old, 4)).toBe(1); // policy ewma: the window (60 s) passed, one container stays
  });

  it('forgets a function', () => {
    const t = setup();
    traffic(t, 50, 5);
    t.autoscaler.forget(NAME);
    t.stats.forget(NAME);
    expect(t.autoscaler.predictedRps(NAME)).toBe(0);
    expect(desired(t.autoscaler, NAME, spec(), 0)).toBe(0);
  });
});

describe('spec scaling fields', () => {
  it('default scaleDownDelayMs to 60 s and idleTimeoutMs to 10 min, and accept whole numbers >= 0', () => {
    expect(FunctionSpec.parse({})).toMatchObject({ scaleDownDelayMs: 60_000, idleTimeoutMs: 600_000 });
    expect(SpecPatch.parse({ scaleDownDelayMs: 0, idleTimeoutMs: 5000 })).toEqual({ scaleDownDelayMs: 0, idleTimeoutMs: 5000 });
    expect(SpecPatch.safeParse({ idleTimeoutMs: -1 }).success).toBe(false);
    expect(SpecPatch.safeParse({ scaleDownDelayMs: 1.5 }).success).toBe(false);
  });
});

describe('the tick hook', () => {
  it('is called after each tick, once the predictions include the bucket that just closed', () => {
    const seen: number[] = [];
    let autoscaler: Autoscaler | undefined;
    const s = setup({ onTick: () => seen.push(autoscaler!.predictedRps(NAME)) });
    autoscaler = s.autoscaler;
    traffic(s, 10, 3);
    expect(seen).toHaveLength(3);
    // The first tick (at 1 s) already saw the first second's ten arrivals.
    expect(seen[0]).toBeGreaterThan(5);
    expect(seen[2]).toBeGreaterThan(8);
  });
});
