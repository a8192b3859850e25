import type { Clock, TimerHandle } from './clock.js';

/**
 * One pending timeout of a {@link Timeouts}. The invoke path makes its per-invocation object
 * one of these (no timer object, no closure of its own); the links belong to the Timeouts.
 */
export abstract class TimeoutEntry {
  /** When it fires (clock.now() ms); set by `Timeouts.add`. */
  deadline = 0;
  /** @internal */ prev: TimeoutEntry | null = null;
  /** @internal */ next: TimeoutEntry | null = null;
  /** @internal */ list: TimeoutList | null = null;

  /** Runs once, when the deadline has passed and the entry was not cancelled. */
  abstract expire(): void;
}

/** Entries of one duration, in the order they were added: their deadlines never decrease. */
class TimeoutList {
  head: TimeoutEntry | null = null;
  tail: TimeoutEntry | null = null;
}

/**
 * Timeouts for many concurrent operations on one clock timer. Entries of one duration are
 * kept in a list in the order they were added, so each list is sorted by deadline for free
 * and adding and cancelling are O(1) link updates with no allocation; the one timer is armed
 * for the earliest head and re-armed when it fires. This replaces a timer per invocation
 * (a Timeout object, its unref and its clear on every request).
 */
export class Timeouts {
  #clock: Clock;
  #lists = new Map<number, TimeoutList>();
  #timer: TimerHandle | null = null;
  #timerAt = Infinity;
  #onTimer = () => this.#fire();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Makes `entry` expire `ms` from now (an entry already pending is moved). */
  add(entry: TimeoutEntry, ms: number): void {
    if (entry.list) this.cancel(entry);
    let list = this.#lists.get(ms);
    if (!list) {
      list = new TimeoutList();
      this.#lists.set(ms, list);
    }
    entry.deadline = this.#clock.now() + ms;
    entry.list = list;
    entry.prev = list.tail;
    entry.next = null;
    if (list.tail) list.tail.next = entry;
    else list.head = entry;
    list.tail = entry;
    if (entry.deadline < this.#timerAt) this.#arm(entry.deadline);
  }

  /** Stops `entry` from expiring; nothing happens if it already did or was never added. */
  cancel(entry: TimeoutEntry): void {
    const list = entry.list;
    if (!list) return;
    if (entry.prev) entry.prev.next = entry.next;
    else list.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else list.tail = entry.prev;
    entry.prev = entry.next = entry.list = null;
    // The timer stays armed: when it fires early it finds nothing due and re-arms for the next.
  }

  /** Entries waiting to expire. */
  get pending(): number {
    let n = 0;
    for (const list of this.#lists.values()) for (let e = list.head; e; e = e.next) n++;
    return n;
  }

  #arm(at: number): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, at - this.#clock.now()));
  }

  #fire(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    let next = Infinity;
    for (const [ms, list] of this.#lists) {
      while (list.head && list.head.deadline <= now) {
        const entry = list.head;
        this.cancel(entry);
        entry.expire();
      }
      if (list.head) next = Math.min(next, list.head.deadline);
      else this.#lists.delete(ms);
    }
    if (next < this.#timerAt) this.#arm(next);
  }
}
