import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { TimeoutEntry, Timeouts } from './timeouts.js';

class Entry extends TimeoutEntry {
  constructor(
    readonly name: string,
    readonly fired: string[],
    readonly clock: FakeClock,
  ) {
    super();
  }

  expire(): void {
    this.fired.push(`${this.name}@${this.clock.now()}`);
  }
}

describe('Timeouts', () => {
  it('expires each entry at its own deadline, durations mixed, on one clock timer', () => {
    const clock = new FakeClock();
    const timeouts = new Timeouts(clock);
    const fired: string[] = [];
    timeouts.add(new Entry('a', fired, clock), 300);
    clock.advance(50);
    timeouts.add(new Entry('b', fired, clock), 100);
    timeouts.add(new Entry('c', fired, clock), 300);
    expect(clock.pending).toBe(1);
    clock.advance(1000);
    expect(fired).toEqual(['b@150', 'a@300', 'c@350']);
    expect(timeouts.pending).toBe(0);
  });

  it('never expires a cancelled entry, and cancelling twice or after expiry does nothing', () => {
    const clock = new FakeClock();
    const timeouts = new Timeouts(clock);
    const fired: string[] = [];
    const a = new Entry('a', fired, clock);
    const b = new Entry('b', fired, clock);
    timeouts.add(a, 100);
    timeouts.add(b, 100);
    timeouts.cancel(a);
    timeouts.cancel(a);
    expect(timeouts.pending).toBe(1);
    clock.advance(100);
    expect(fired).toEqual(['b@100']);
    timeouts.cancel(b);
    clock.advance(1000);
    expect(fired).toEqual(['b@100']);
    expect(clock.pending).toBe(0);
  });

  it('re-arms for an entry added with an earlier deadline than the armed one', () => {
    const clock = new FakeClock();
    const timeouts = new Timeouts(clock);
    const fired: string[] = [];
    timeouts.add(new Entry('slow', fired, clock), 1000);
    timeouts.add(new Entry('fast', fired, clock), 10);
    clock.advance(10);
    expect(fired).toEqual(['fast@10']);
    clock.advance(990);
    expect(fired).toEqual(['fast@10', 'slow@1000']);
  });

  it('lets an expiring entry add another', () => {
    const clock = new FakeClock();
    const timeouts = new Timeouts(clock);
    const fired: string[] = [];
    class Again extends Entry {
      override expire(): void {
        super.expire();
        if (fired.length < 3) timeouts.add(this, 100);
      }
    }
    timeouts.add(new Again('x', fired, clock), 100);
    clock.advance(1000);
    expect(fired).toEqual(['x@100', 'x@200', 'x@300']);
  });
});
