import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { TrafficStats } from './traffic-stats.js';

function setup(options: { historyBuckets?: number } = {}) {
  const clock = new FakeClock(0);
  const stats = new TrafficStats({ clock, ...options });
  return { clock, stats };
}

describe('TrafficStats', () => {
  it('counts arrivals in clock-aligned 1-second buckets', () => {
    const { clock, stats } = setup();
    clock.advance(200);
    stats.onStart('f');
    stats.onStart('f');
    clock.advance(900); // 1100: bucket 1
    stats.onStart('f');
    clock.advance(1000); // 2100
    expect(stats.bucket('f', 0)).toMatchObject({ index: 0, startMs: 0, arrivals: 2 });
    expect(stats.bucket('f', 1)).toMatchObject({ index: 1, startMs: 1000, arrivals: 1 });
    expect(stats.currentBucket()).toBe(2);
  });

  it('gives concurrency as the time-weighted average in flight, with the peak beside it', () => {
    const { clock, stats } = setup();
    stats.onStart('f'); // 1 in flight from 0
    clock.advance(250);
    stats.onStart('f'); // 2 in flight from 250
    clock.advance(250);
    stats.onFinish('f', 500); // 1 from 500
    stats.onFinish('f', 250); // 0 from 500
    clock.advance(600);
    // 1 x 250 ms + 2 x 250 ms = 750 request-ms over 1000 ms
    expect(stats.bucket('f', 0)).toMatchObject({ concurrency: 0.75, peakInFlight: 2 });
  });

  it('spreads a long request over every bucket it spans, quiet buckets included', () => {
    const { clock, stats } = setup();
    clock.advance(500);
    stats.onStart('f');
    clock.advance(3000); // finishes at 3500
    stats.onFinish('f', 3000);
    clock.advance(1500);
    expect([0, 1, 2, 3, 4].map((b) => stats.bucket('f', b)?.concurrency)).toEqual([0.5, 1, 1, 0.5, 0]);
    expect(stats.bucket('f', 2)).toMatchObject({ arrivals: 0, peakInFlight: 1 });
  });

  it('reads only closed buckets still in the history', () => {
    const { clock, stats } = setup({ historyBuckets: 4 });
    stats.onStart('f');
    expect(stats.bucket('f', 0)).toBeUndefined(); // still open
    clock.advance(10_000);
    expect(stats.bucket('f', 9)).toMatchObject({ arrivals: 0, concurrency: 1 });
    expect(stats.bucket('f', 6)).toBeDefined();
    expect(stats.bucket('f', 5)).toBeUndefined(); // fell out of the history
    expect(stats.bucket('other', 9)).toBeUndefined();
  });

  it('reads buckets before the first request as empty', () => {
    const { clock, stats } = setup();
    clock.advance(5000);
    stats.onStart('f');
    clock.advance(1000);
    expect(stats.bucket('f', 3)).toEqual({ index: 3, startMs: 3000, arrivals: 0, concurrency: 0, peakInFlight: 0 });
  });

  it('tracks requests in flight, the last arrival and the peak of the open bucket', () => {
    const { clock, stats } = setup();
    clock.advance(1500);
    stats.onStart('f');
    stats.onStart('f');
    stats.onFinish('f');
    expect(stats.inFlight('f')).toBe(1);
    expect(stats.openPeakInFlight('f')).toBe(2);
    expect(stats.lastArrivalAt('f')).toBe(1500);
    stats.onFinish('f');
    stats.onFinish('f'); // an extra finish never drives it negative
    expect(stats.inFlight('f')).toBe(0);
    expect(stats.lastArrivalAt('unknown')).toBeNull();
  });

  it('keeps the mean handler duration as an EWMA and ignores requests that never ran', () => {
    const { stats } = setup();
    stats.onStart('f');
    stats.onFinish('f', 100);
    expect(stats.meanDurationMs('f')).toBe(100);
    stats.onStart('f');
    stats.onFinish('f', 200);
    expect(stats.meanDurationMs('f')).toBeCloseTo(120); // 100 + 0.2 x 100
    stats.onStart('f');
    stats.onFinish('f'); // rejected before it ran
    expect(stats.meanDurationMs('f')).toBeCloseTo(120);
  });

  it('forgets a function', () => {
    const { stats } = setup();
    stats.onStart('f');
    stats.forget('f');
    expect([...stats.names()]).toEqual([]);
    stats.onFinish('f', 10); // a request that outlived the deletion
    expect([...stats.names()]).toEqual([]);
    expect(stats.inFlight('f')).toBe(0);
  });

  it('records an idle time, from arrival to arrival, when a request ends a pause of minIdleMs with nothing in flight', () => {
    const { clock, stats } = setup();
    expect(stats.minIdleMs).toBe(5000);
    stats.onStart('f');
    expect(stats.idleSince('f')).toBeNull();
    clock.advance(1000);
    stats.onFinish('f', 1000);
    expect(stats.idleSince('f')).toBe(1000);
    clock.advance(3000); // a pause of 3 s: part of the burst
    stats.onStart('f');
    clock.advance(500);
    stats.onFinish('f', 500);
    expect(stats.idleTimes('f')).toBeUndefined();
    clock.advance(20_000); // a pause of 20 s: 20.5 s from the last arrival
    stats.onStart('f');
    const idle = stats.idleTimes('f')!;
    expect(idle.samples).toBe(1);
    expect(idle.percentile(0.5)! / 20_500).toBeGreaterThan(0.95);
    expect(idle.percentile(0.5)! / 20_500).toBeLessThan(1.05);
    // Still in flight: the next arrival ends no pause.
    clock.advance(10_000);
    stats.onStart('f');
    expect(idle.samples).toBe(1);
  });
});
