import { performance } from 'node:perf_hooks';
import type { Clock, TimerHandle } from '../support/clock.js';
import { TokenBucket } from '../invocation/rate-limiter.js';

/** What the governor reads each interval: how busy the runtime's thread was, and how many synchronous calls came. */
export interface LoadSignals {
  /** Share of the last interval the event loop was busy, 0 to 1 (event-loop utilization). */
  utilization(): number;
  /** Synchronous invocations that arrived since the last call. */
  syncArrivals(): number;
}

/**
 * The signals of this process: its event loop's utilization (perf_hooks), and synchronous
 * arrivals as the change of `syncStarts` (every invocation start less the async tries).
 */
export function runtimeSignals(syncStarts: () => number): LoadSignals {
  let last = performance.eventLoopUtilization();
  let counted = syncStarts();
  return {
    utilization: () => {
      const now = performance.eventLoopUtilization();
      const used = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return used;
    },
    syncArrivals: () => {
      const total = syncStarts();
      const delta = total - counted;
      counted = total;
      return delta;
    },
  };
}

/** Options of {@link AsyncGovernor}. */
export interface GovernorOptions {
  clock: Clock;
  signals: LoadSignals;
  /** How often the load is read (default 100 ms). */
  intervalMs?: number;
  /** Utilization above which synchronous traffic counts as needing the machine (default 0.5). */
  busyAbove?: number;
  /** The slowest pace of async tries while throttled, per second (default 10): a backlog never stops. */
  minRate?: number;
}

/**
 * Async jobs are background work: they use the capacity synchronous traffic leaves. Every
 * interval the governor reads the event loop's utilization and the synchronous arrivals; while
 * synchronous calls come and the loop is busy, the pace of async tries is cut to a quarter (down
 * to `minRate`: a quarter reaches the floor from thousands a second within half a second),
 * otherwise doubled until it is unlimited again (multiplicative steps, as TCP shares a link). The
 * pace is a token bucket the dispatcher takes from before each try.
 */
export class AsyncGovernor {
  #o: GovernorOptions;
  #bucket: TokenBucket;
  /** Tries per second allowed; 0 is unlimited. */
  #rate = 0;
  #started = 0;
  #timer: TimerHandle | null = null;

  constructor(options: GovernorOptions) {
    this.#o = options;
    this.#bucket = new TokenBucket(0, options.clock);
  }

  /** Current pace of async tries per second; 0 when unlimited. */
  get rate(): number {
    return this.#rate;
  }

  start(): void {
    if (this.#timer) return;
    this.#o.signals.utilization();
    this.#o.signals.syncArrivals();
    this.#tick();
  }

  stop(): void {
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /**
   * How many of `wanted` tries may start now (each taken from the pace), and when to ask again
   * if that is fewer.
   */
  take(wanted: number): { granted: number; retryAfterMs: number } {
    let granted = 0;
    let retryAfterMs = 0;
    while (granted < wanted) {
      const t = this.#bucket.take();
      if (!t.ok) {
        retryAfterMs = t.retryAfterMs;
        break;
      }
      granted += 1;
    }
    this.#started += granted;
    return { granted, retryAfterMs };
  }

  #tick(): void {
    const interval = this.#o.intervalMs ?? 100;
    const busy = this.#o.signals.syncArrivals() > 0 && this.#o.signals.utilization() > (this.#o.busyAbove ?? 0.5);
    const minRate = this.#o.minRate ?? 10;
    // What async actually started last interval, per second: where a first halving starts from.
    const observed = (this.#started * 1000) / interval;
    this.#started = 0;
    if (busy) {
      const from = this.#rate === 0 ? observed : this.#rate;
      this.#setRate(Math.max(minRate, Math.floor(from / 4)));
    } else if (this.#rate !== 0) {
      const doubled = this.#rate * 2;
      this.#setRate(doubled >= 100_000 ? 0 : doubled);
    }
    this.#timer = this.#o.clock.setTimeout(() => this.#tick(), interval);
  }

  #setRate(rate: number): void {
    if (rate === this.#rate) return;
    this.#rate = rate;
    // A burst of a tenth of a second's tries: the pace holds within an interval.
    this.#bucket.configure(rate, Math.max(1, Math.ceil(rate / 10)));
  }
}
