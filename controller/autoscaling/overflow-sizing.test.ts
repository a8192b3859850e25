import { describe, expect, it } from 'vitest';
import { overflowSlots } from './overflow-sizing.js';

/** P(N >= n) for N Poisson with mean c, summed directly. */
function tail(c: number, n: number): number {
  let pmf = Math.exp(-c);
  let cdf = 0;
  for (let k = 0; k < n; k++) {
    cdf += pmf;
    pmf *= c / (k + 1);
  }
  return 1 - cdf;
}

describe('overflowSlots', () => {
  it('is the fewest slots that keep the predicted rate of requests finding all busy within the budget', () => {
    for (const [c, rps, perSecond] of [
      [5, 50, 4 / 60],
      [15, 150, 4 / 60],
      [1, 2, 4 / 60],
      [40, 10, 1 / 60],
    ] as const) {
      const n = overflowSlots(c, rps, perSecond);
      expect(rps * tail(c, n)).toBeLessThanOrEqual(perSecond);
      expect(rps * tail(c, n - 1)).toBeGreaterThan(perSecond);
    }
  });

  it('gives a busy function relatively more headroom than a quiet one (square-root staffing)', () => {
    const quiet = overflowSlots(2, 10, 4 / 60);
    const busy = overflowSlots(50, 250, 4 / 60);
    expect(busy).toBeGreaterThan(50 + 2 * Math.sqrt(50));
    expect(quiet).toBeLessThan(2 + 4 * Math.sqrt(2));
  });

  it('needs nothing without traffic, or when the budget exceeds the arrivals', () => {
    expect(overflowSlots(0, 10, 1)).toBe(0);
    expect(overflowSlots(1, 0, 1)).toBe(0);
    expect(overflowSlots(1, 0.5, 1)).toBe(0);
  });

  it('sizes very busy functions with the normal approximation, close to the exact sum', () => {
    const exact = overflowSlots(500, 5000, 1 / 60);
    const approx = overflowSlots(500.0001, 5000, 1 / 60);
    expect(Math.abs(approx - exact)).toBeLessThanOrEqual(2);
    expect(overflowSlots(5000, 50_000, 1 / 60)).toBeGreaterThan(5000 + 4 * Math.sqrt(5000));
  });
});
