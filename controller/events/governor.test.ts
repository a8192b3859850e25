import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { AsyncGovernor } from './governor.js';

/** A governor whose signals the test sets for each interval. */
function governed(options: { minRate?: number } = {}) {
  const clock = new FakeClock(0);
  const load = { utilization: 0, arrivals: 0 };
  const governor = new AsyncGovernor({
    clock,
    intervalMs: 100,
    busyAbove: 0.5,
    minRate: options.minRate ?? 10,
    signals: { utilization: () => load.utilization, syncArrivals: () => load.arrivals },
  });
  governor.start();
  return { clock, load, governor };
}

describe('AsyncGovernor', () => {
  it('lets every try start while no synchronous call comes, however busy the loop', () => {
    const { clock, load, governor } = governed();
    load.utilization = 1;
    clock.advance(1000);
    expect(governor.rate).toBe(0);
    expect(governor.take(500)).toEqual({ granted: 500, retryAfterMs: 0 });
  });

  it('quarters the pace from what async ran while synchronous calls need a busy loop, down to the floor, and a backlog still moves', () => {
    const { clock, load, governor } = governed({ minRate: 10 });
    governor.take(80); // 80 tries in the first 100 ms: 800/s
    load.utilization = 0.9;
    load.arrivals = 1000;
    clock.advance(100);
    expect(governor.rate).toBe(200);
    clock.advance(100);
    expect(governor.rate).toBe(50);
    clock.advance(2000);
    expect(governor.rate).toBe(10);
    // At 10/s, one try per 100 ms.
    expect(governor.take(5)).toEqual({ granted: 1, retryAfterMs: 100 });
    clock.advance(100);
    expect(governor.take(5).granted).toBe(1);
  });

  it('doubles the pace back once synchronous traffic leaves room, then lifts it', () => {
    const { clock, load, governor } = governed();
    governor.take(100);
    load.utilization = 0.9;
    load.arrivals = 10;
    clock.advance(100);
    expect(governor.rate).toBe(250);
    load.utilization = 0.2;
    clock.advance(100);
    expect(governor.rate).toBe(500);
    clock.advance(700);
    expect(governor.rate).toBe(64_000);
    clock.advance(100);
    expect(governor.rate).toBe(0);
    expect(governor.take(1000).granted).toBe(1000);
  });
});
