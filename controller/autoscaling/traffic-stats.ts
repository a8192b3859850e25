import type { Clock } from '../support/clock.js';
import { DEFAULT_MIN_IDLE_MS, IdleHistogram, type IdleHistogramOptions } from './idle-histogram.js';

/** Tuning of {@link TrafficStats}; the defaults suit the autoscaler's 1-second tick. */
export interface TrafficStatsOptions {
  clock: Clock;
  /** Width of one bucket. Default 1000 ms. */
  bucketMs?: number;
  /** Closed buckets kept per function, for a late or missed tick. Default 64. */
  historyBuckets?: number;
  /** Weight of the newest duration in the mean handler duration. Default 0.2. */
  durationAlpha?: number;
  /** Bins and memory of each function's idle-time histogram. */
  idleTimes?: IdleHistogramOptions;
}

/** What the keep-alive policy reads of a function's idle times. */
export type IdleTimes = Pick<IdleHistogram, 'samples' | 'percentile' | 'share' | 'meanCapped' | 'minMs' | 'maxMs'>;

/** One closed bucket of a function's traffic. */
export interface TrafficBucket {
  /** `floor(startMs / bucketMs)`: buckets are aligned to the clock, not to the first request. */
  index: number;
  startMs: number;
  /** Invocations that arrived in the bucket. */
  arrivals: number;
  /** Time-weighted average of invocations in flight (queued ones included) over the bucket. */
  concurrency: number;
  /** The most invocations in flight at any moment of the bucket. */
  peakInFlight: number;
}

/** Counters of one function; the arrays are rings indexed by `bucket % size`. */
class Series {
  inFlight = 0;
  /** Index of the open bucket. */
  current: number;
  /** First bucket this series saw; earlier ones read as empty. */
  readonly first: number;
  /** When `area` of the open bucket was last brought up to date. */
  lastAt: number;
  lastArrivalAt: number | null = null;
  /** When the in-flight count last fell to 0; null while something is in flight. */
  idleSince: number | null = null;
  /** Made at the first idle time worth keeping. */
  idleTimes: IdleHistogram | null = null;
  meanDurationMs = 0;
  finished = 0;
  readonly arrivals: Uint32Array;
  /** In-flight count integrated over time, in request-milliseconds. */
  readonly area: Float64Array;
  readonly peak: Uint32Array;

  constructor(size: number, bucket: number, now: number) {
    this.arrivals = new Uint32Array(size);
    this.area = new Float64Array(size);
    this.peak = new Uint32Array(size);
    this.current = bucket;
    this.first = bucket;
    this.lastAt = now;
  }
}

/**
 * Per-function traffic as the invoke path sees it: arrivals and in-flight concurrency in
 * clock-aligned buckets (1 s by default), and the mean handler duration.
 *
 * Concurrency per bucket is the time-weighted average of the in-flight count, not its peak:
 * by Little's law that average is the capacity the bucket actually used (rate x duration),
 * so it sizes replicas without the sampling noise of a peak (one overlap of 1 ms would
 * count as a whole extra request for the second). The peak is kept beside it for display.
 *
 * Each time a function gets a request after a pause (nothing in flight) of at least
 * `minIdleMs`, the idle time that ends, from the last request's arrival to this one's, goes to
 * the function's {@link IdleHistogram}: the keep-alive policy's input. Shorter pauses are part
 * of a burst and are not kept.
 *
 * The hot path (`onStart`, `onFinish`) is O(1) and allocates nothing once a function has
 * been seen (and has had its first long pause): it bumps counters in fixed rings and
 * integrates the in-flight count lazily.
 */
export class TrafficStats {
  /** Width of one bucket in ms. */
  readonly bucketMs: number;
  /** A pause shorter than this is part of a burst: it is not an idle time, and the function is still busy. */
  readonly minIdleMs: number;
  #clock: Clock;
  #size: number;
  #durationAlpha: number;
  #idleOptions: IdleHistogramOptions;
  #series = new Map<string, Series>();

  constructor(options: TrafficStatsOptions) {
    this.#clock = options.clock;
    this.bucketMs = options.bucketMs ?? 1000;
    // One slot more than the history: the open bucket lives in the ring too.
    this.#size = Math.max(2, (options.historyBuckets ?? 64) + 1);
    this.#durationAlpha = options.durationAlpha ?? 0.2;
    this.#idleOptions = options.idleTimes ?? {};
    this.minIdleMs = this.#idleOptions.minMs ?? DEFAULT_MIN_IDLE_MS;
  }

  /** An invocation arrived (call it once the rate limiter admitted it, before waiting for a container). */
  onStart(name: string): void {
    const now = this.#clock.now();
    const s = this.#advance(name, now);
    const i = s.current % this.#size;
    s.arrivals[i] = s.arrivals[i]! + 1;
    // A pause long enough to part two bursts: its idle time runs from arrival to arrival (bursts
    // come on the rhythm of their arrivals; when they end depends on cold starts and handlers).
    if (s.inFlight === 0 && s.idleSince !== null && now - s.idleSince >= this.minIdleMs && s.lastArrivalAt !== null) this.#recordIdle(s, now - s.lastArrivalAt);
    s.idleSince = null;
    s.inFlight += 1;
    if (s.inFlight > s.peak[i]!) s.peak[i] = s.inFlight;
    s.lastArrivalAt = now;
  }

  /** An invocation ended, however it ended; `durationMs` is the handler's time when it ran. */
  onFinish(name: string, durationMs?: number): void {
    const s = this.#series.get(name);
    // A request that outlived its function's deletion leaves no trace.
    if (!s) return;
    const now = this.#clock.now();
    this.#roll(s, now);
    if (s.inFlight > 0) {
      s.inFlight -= 1;
      if (s.inFlight === 0) s.idleSince = now;
    }
    if (durationMs === undefined || !(durationMs >= 0)) return;
    s.meanDurationMs = s.finished === 0 ? durationMs : s.meanDurationMs + this.#durationAlpha * (durationMs - s.meanDurationMs);
    s.finished += 1;
  }

  /** Index of the bucket that is open now. Buckets below it are closed. */
  currentBucket(): number {
    return Math.floor(this.#clock.now() / this.bucketMs);
  }

  /** A closed bucket, if it is still in the history; buckets before the first request read as empty. */
  bucket(name: string, index: number): TrafficBucket | undefined {
    const s = this.#series.get(name);
    if (!s) return undefined;
    this.#roll(s, this.#clock.now());
    if (index >= s.current || index <= s.current - this.#size) return undefined;
    const startMs = index * this.bucketMs;
    if (index < s.first) return { index, startMs, arrivals: 0, concurrency: 0, peakInFlight: 0 };
    const i = index % this.#size;
    return { index, startMs, arrivals: s.arrivals[i]!, concurrency: s.area[i]! / this.bucketMs, peakInFlight: s.peak[i]! };
  }

  /** Invocations in flight now, waiting ones included. */
  inFlight(name: string): number {
    return this.#series.get(name)?.inFlight ?? 0;
  }

  /** The most invocations in flight at once in the open bucket so far. */
  openPeakInFlight(name: string): number {
    const s = this.#series.get(name);
    if (!s) return 0;
    this.#roll(s, this.#clock.now());
    return s.peak[s.current % this.#size]!;
  }

  /** When the last invocation arrived, or null if none did since the function was last forgotten. */
  lastArrivalAt(name: string): number | null {
    return this.#series.get(name)?.lastArrivalAt ?? null;
  }

  /**
   * When the function's in-flight count last fell to 0: the start of the pause it is in now.
   * Null while a request is in flight, and for a function not seen since it was last forgotten.
   */
  idleSince(name: string): number | null {
    return this.#series.get(name)?.idleSince ?? null;
  }

  /** The function's idle times (gaps between bursts), or undefined before its first one. */
  idleTimes(name: string): IdleTimes | undefined {
    return this.#series.get(name)?.idleTimes ?? undefined;
  }

  /** EWMA of handler durations in ms; 0 before the first finished invocation. */
  meanDurationMs(name: string): number {
    return this.#series.get(name)?.meanDurationMs ?? 0;
  }

  /** Functions with stats. */
  names(): IterableIterator<string> {
    return this.#series.keys();
  }

  /** Drops a function's stats (after deletion). */
  forget(name: string): void {
    this.#series.delete(name);
  }

  #recordIdle(s: Series, ms: number): void {
    if (!s.idleTimes) {
      if (!(ms >= this.minIdleMs)) return;
      s.idleTimes = new IdleHistogram(this.#idleOptions);
    }
    s.idleTimes.record(ms);
  }

  #advance(name: string, now: number): Series {
    let s = this.#series.get(name);
    if (!s) {
      s = new Series(this.#size, Math.floor(now / this.bucketMs), now);
      this.#series.set(name, s);
      return s;
    }
    this.#roll(s, now);
    return s;
  }

  /** Closes the buckets that ended before `now` and integrates the in-flight count up to it. */
  #roll(s: Series, now: number): void {
    const size = this.#size;
    const bucket = Math.floor(now / this.bucketMs);
    if (bucket > s.current) {
      const ci = s.current % size;
      s.area[ci] = s.area[ci]! + s.inFlight * ((s.current + 1) * this.bucketMs - s.lastAt);
      // Buckets with no event at all held the same in-flight count throughout.
      const skipped = Math.min(bucket - s.current - 1, size - 1);
      for (let k = 1; k <= skipped; k++) {
        const i = (bucket - k) % size;
        s.arrivals[i] = 0;
        s.area[i] = s.inFlight * this.bucketMs;
        s.peak[i] = s.inFlight;
      }
      const i = bucket % size;
      s.arrivals[i] = 0;
      s.area[i] = 0;
      s.peak[i] = s.inFlight;
      s.current = bucket;
      s.lastAt = bucket * this.bucketMs;
    }
    if (now > s.lastAt) {
      const i = s.current % size;
      s.area[i] = s.area[i]! + s.inFlight * (now - s.lastAt);
      s.lastAt = now;
    }
  }
}
