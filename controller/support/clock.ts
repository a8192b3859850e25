/** Opaque handle for a scheduled callback. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/**
 * Time as the controller sees it. Queues, backoff, pool waits and rate limiters take a Clock
 * so tests drive them with a fake one instead of sleeping.
 */
export interface Clock {
  now(): number;
  /**
   * Milliseconds from an arbitrary origin, monotonic and finer than a millisecond: for
   * measuring short durations, which `now()` (wall time, whole milliseconds) rounds to 0 or 1.
   */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock; timers are unref'd so they never keep the process alive on their own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/** A manual clock for tests: time moves only when `advance` is called. */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #nextId = 1;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** The same time as `now()`: `advance` moves both. */
  monotonic(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete((handle as { id: number }).id);
  }

  /** Moves time forward, firing due timers in order (including ones they schedule). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.at <= target && t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const timer = this.#timers.get(nextId)!;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, timer.at);
      timer.fn();
    }
    this.#now = target;
  }

  /** How many timers are waiting. */
  get pending(): number {
    return this.#timers.size;
  }
}
