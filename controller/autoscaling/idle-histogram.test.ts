import { describe, expect, it } from 'vitest';
import { IdleHistogram } from './idle-histogram.js';

describe('IdleHistogram', () => {
  it('keeps idle times from minMs on and ignores shorter pauses (they are part of a burst)', () => {
    const h = new IdleHistogram({ minMs: 5000 });
    expect(h.record(4999)).toBe(false);
    expect(h.record(Number.NaN)).toBe(false);
    expect(h.samples).toBe(0);
    expect(h.percentile(0.5)).toBeNull();
    expect(h.record(5000)).toBe(true);
    expect(h.samples).toBe(1);
  });

  it('reads percentiles within a bin width (5 %)', () => {
    const h = new IdleHistogram({ decay: 1 });
    for (let i = 1; i <= 100; i++) h.record(10_000 + i * 1000); // 11 s .. 110 s, evenly
    expect(h.percentile(0.05)! / 15_500).toBeGreaterThan(0.95);
    expect(h.percentile(0.05)! / 15_500).toBeLessThan(1.05);
    expect(h.percentile(0.99)! / 109_500).toBeGreaterThan(0.95);
    expect(h.percentile(0.99)! / 109_500).toBeLessThan(1.05);
    expect(h.percentile(0.5)!).toBeGreaterThan(h.percentile(0.05)!);
  });

  it('says how many idle times were shorter than a time, and how long holding until it would last on average', () => {
    const h = new IdleHistogram({ decay: 1 });
    for (let i = 0; i < 10; i++) h.record(20_000);
    for (let i = 0; i < 10; i++) h.record(100_000);
    expect(h.share(50_000)).toBeCloseTo(0.5, 5);
    expect(h.share(10_000)).toBe(0);
    expect(h.share(200_000)).toBeCloseTo(1, 5);
    // Half the pauses end near 20 s, the other half are cut at 30 s.
    expect(h.meanCapped(30_000) / 25_000).toBeGreaterThan(0.97);
    expect(h.meanCapped(30_000) / 25_000).toBeLessThan(1.03);
    expect(h.meanCapped(1_000_000) / 60_000).toBeGreaterThan(0.97);
    expect(h.meanCapped(1_000_000) / 60_000).toBeLessThan(1.03);
  });

  it('follows a rhythm that changes: older idle times fade', () => {
    const h = new IdleHistogram();
    for (let i = 0; i < 50; i++) h.record(60_000);
    for (let i = 0; i < 20; i++) h.record(20_000);
    expect(h.percentile(0.5)!).toBeLessThan(22_000); // 0.95^20: the old rhythm weighs a third
    expect(h.percentile(0.99)!).toBeGreaterThan(55_000);
    for (let i = 0; i < 80; i++) h.record(20_000);
    expect(h.percentile(0.99)!).toBeLessThan(22_000); // 0.95^100: under 1 %
    expect(h.samples).toBe(150);
  });

  it('places idle times beyond its range out of range', () => {
    const h = new IdleHistogram({ maxMs: 3600_000, decay: 1 });
    h.record(30_000);
    h.record(5 * 3600_000);
    expect(h.percentile(0.25)!).toBeLessThan(32_000);
    expect(h.percentile(0.99)).toBe(Infinity);
    expect(h.meanCapped(60_000)).toBeCloseTo(45_000, -3);
  });

  it('keeps bounded memory: a million idle times, and its percentiles still hold', () => {
    const h = new IdleHistogram();
    for (let i = 0; i < 1_000_000; i++) h.record(30_000 + (i % 2) * 1000);
    expect(h.samples).toBe(1_000_000);
    const p = h.percentile(0.5)!;
    expect(p).toBeGreaterThan(28_000);
    expect(p).toBeLessThan(33_000);
    expect(h.share(40_000)).toBeCloseTo(1, 5);
  });

  it('refuses options that make no histogram', () => {
    expect(() => new IdleHistogram({ minMs: 0 })).toThrow(RangeError);
    expect(() => new IdleHistogram({ binRatio: 1 })).toThrow(RangeError);
    expect(() => new IdleHistogram({ decay: 0 })).toThrow(RangeError);
  });
});
