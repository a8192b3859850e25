import { describe, expect, it } from 'vitest';
import { RollingWindow, WINDOW_SECONDS } from './rolling.js';

describe("the dashboard's rolling window", () => {
  it('appends new seconds, replaces seconds sent again, and fills a gap with nulls', () => {
    const w = new RollingWindow(['a'] as const);
    w.merge({ time: [10, 11, 12], a: [1, 2, null] });
    w.merge({ time: [12, 13], a: [3, 4] });
    w.merge({ time: [16], a: [7] });
    expect(w.time).toEqual([10, 11, 12, 13, 14, 15, 16]);
    expect(w.columns.a).toEqual([1, 2, 3, 4, null, null, 7]);
  });

  it('keeps 15 minutes, and asks for everything first, then for the seconds since the last one', () => {
    const w = new RollingWindow(['a'] as const);
    expect(w.secondsToAsk(1000)).toBe(WINDOW_SECONDS);
    const time = Array.from({ length: 1000 }, (_, i) => i);
    w.merge({ time, a: time });
    expect(w.time).toHaveLength(WINDOW_SECONDS);
    expect(w.time[0]).toBe(100);
    expect(w.columns.a[0]).toBe(100);
    expect(w.secondsToAsk(1000)).toBe(5);
    expect(w.secondsToAsk(1060)).toBe(64);
  });

  it('starts charts at the first sample within the range, showing at least a minute', () => {
    const w = new RollingWindow(['a'] as const);
    const time = Array.from({ length: 600 }, (_, i) => 1000 + i);
    w.merge({ time, a: time.map((t) => (t < 1400 ? null : 1)) });
    expect(w.chartStart('a', 900)).toBe(1400);
    expect(w.chartStart('a', 60)).toBe(1540);
    w.merge({ time: [1600], a: [1] });
    expect(w.chartStart('a', 900)).toBe(1400);
    const fresh = new RollingWindow(['a'] as const);
    fresh.merge({ time: [5000, 5001], a: [null, 1] });
    expect(fresh.chartStart('a', 900)).toBe(5001 - 59);
  });
});
