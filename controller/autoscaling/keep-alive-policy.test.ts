import { describe, expect, it } from 'vitest';
import { IdleHistogram } from './idle-histogram.js';
import { KeepAlivePolicy, holds } from './keep-alive-policy.js';

const policy = new KeepAlivePolicy();

function histogram(gaps: number[]): IdleHistogram {
  const h = new IdleHistogram();
  for (const g of gaps) h.record(g);
  return h;
}

describe('KeepAlivePolicy', () => {
  it('falls back to the keep-alive (idleTimeoutMs) without idle times', () => {
    const plan = policy.plan(undefined, 30_000);
    expect(plan).toMatchObject({ mode: 'fallback', reason: 'no idle times', keepUntilMs: 30_000 });
    expect(holds(plan, 29_999)).toBe(true);
    expect(holds(plan, 30_000)).toBe(false);
    expect(policy.plan(new IdleHistogram(), 30_000).mode).toBe('fallback');
  });

  it('while learning (1-2 idle times) keeps the keep-alive and adds a pre-warm before the pause seen', () => {
    const plan = policy.plan(histogram([60_000]), 30_000);
    expect(plan).toMatchObject({ mode: 'learning', keepUntilMs: 30_000 });
    expect(plan.prewarmFromMs).toBeGreaterThan(54_000);
    expect(plan.prewarmFromMs).toBeLessThanOrEqual(58_000); // at least 2 s (a start and a tick) before
    expect(plan.prewarmUntilMs).toBeGreaterThan(60_000);
    expect(holds(plan, 10_000)).toBe(true); // the keep-alive
    expect(holds(plan, 40_000)).toBe(false); // unloaded
    expect(holds(plan, 59_000)).toBe(true); // pre-warmed
  });

  it('does not learn from pauses too far apart, nor when the pre-warm would hold longer than the keep-alive', () => {
    expect(policy.plan(histogram([20_000, 90_000]), 30_000)).toMatchObject({ mode: 'fallback', reason: 'too spread' });
    // A 10-minute rhythm: its margins (5 % each side) hold a minute, more than a 30-s keep-alive is worth.
    expect(policy.plan(histogram([600_000]), 30_000)).toMatchObject({ mode: 'fallback', reason: 'too spread' });
  });

  it('with a regular rhythm, unloads at once and pre-warms a little before the next burst is due', () => {
    const plan = policy.plan(histogram([88_000, 90_000, 91_000, 89_500, 90_500]), 30_000);
    expect(plan.mode).toBe('histogram');
    expect(plan.keepUntilMs).toBe(0);
    expect(plan.prewarmFromMs).toBeGreaterThan(80_000);
    expect(plan.prewarmFromMs).toBeLessThan(86_000);
    expect(plan.prewarmUntilMs).toBeGreaterThan(91_000);
    expect(plan.prewarmUntilMs).toBeLessThan(100_000);
    expect(holds(plan, 6000)).toBe(false);
    expect(holds(plan, 87_000)).toBe(true);
  });

  it('never gives a pre-warmed container up before the keep-alive would have', () => {
    const plan = policy.plan(histogram([88_000, 90_000, 91_000]), 600_000);
    expect(plan.mode).toBe('histogram');
    expect(plan.prewarmUntilMs).toBe(600_000);
    expect(holds(plan, 300_000)).toBe(true);
  });

  it('falls back for Poisson-like pauses: too spread to predict', () => {
    // The quantiles of an exponential law of mean 40 s, from 5 s on.
    const gaps = Array.from({ length: 60 }, (_, i) => 5000 - Math.log(1 - (i + 0.5) / 60) * 40_000);
    expect(policy.plan(histogram(gaps), 30_000)).toMatchObject({ mode: 'fallback' });
    expect(policy.plan(histogram(gaps), 600_000)).toMatchObject({ mode: 'fallback' });
  });

  it('falls back when the pauses are too short to unload in', () => {
    expect(policy.plan(histogram([8000, 8200, 8100, 7900]), 30_000)).toMatchObject({ mode: 'fallback', reason: 'short pauses' });
  });

  it('falls back when the pauses run past the histogram', () => {
    const h = new IdleHistogram({ maxMs: 3600_000 });
    for (let i = 0; i < 5; i++) h.record(5 * 3600_000);
    expect(policy.plan(h, 30_000)).toMatchObject({ mode: 'fallback', reason: 'out of range' });
  });

  it('replayed on its idle times, never has more cold starts than the keep-alive: pauses the keep-alive covers but that end early stay kept', () => {
    // With a 10-minute keep-alive every pause is covered; a few (under 5 %) end at 20 s instead of 90 s.
    const gaps = Array.from({ length: 50 }, (_, i) => (i === 10 || i === 35 ? 20_000 : 90_000));
    expect(policy.plan(histogram(gaps), 600_000)).toMatchObject({ mode: 'fallback', reason: 'too spread' });
    // With a 10-s keep-alive every pause is cold: pre-warming for the common 90 s is better.
    expect(policy.plan(histogram(gaps), 10_000).mode).toBe('histogram');
  });

  it('takes a lower keep-alive percentile when the highest lies out of range', () => {
    const h = new IdleHistogram({ maxMs: 3600_000 });
    for (let i = 0; i < 60; i++) h.record(i % 20 === 7 ? 5 * 3600_000 : 60_000);
    const plan = policy.plan(h, 30_000);
    expect(plan.mode).toBe('histogram');
    expect(plan.prewarmUntilMs).toBeLessThan(70_000);
    expect(new KeepAlivePolicy({ keepAlivePercentiles: [0.99] }).plan(h, 30_000)).toMatchObject({ mode: 'fallback', reason: 'out of range' });
  });
});
