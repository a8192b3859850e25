import type { Clock } from '../support/clock.js';
import type { InvocationObserver } from '../invocation/observer.js';
import { FunctionSeries, type FunctionStats, type TickSample, type TrafficSummary } from './function-series.js';
import { processProbe, ProcessSeries, type ProcessProbe, type ProcessSample, type ProcessStats } from './process-probe.js';

/** Seconds of history kept: 15 minutes. */
export const HISTORY_SECONDS = 900;
/** Seconds the overview's summaries cover. */
export const SUMMARY_SECONDS = 60;
/** Seconds the overview's "requests per second now" averages. */
const NOW_SECONDS = 5;

/** What the history is told and asks, as the composition root wires it. */
export interface StatsHistoryOptions {
  clock: Clock;
  /** Seconds kept per function. Default {@link HISTORY_SECONDS}. */
  seconds?: number;
  /** The live functions, read once per tick. */
  functions: () => Iterable<string>;
  /** The tick's sample of a live function: prediction, replicas, panic. */
  sample: (name: string) => TickSample;
  /** The runtime process; default the real one. */
  probe?: ProcessProbe;
}

/** One function in the overview: its last minute summed up, and the latest sample. */
export interface FunctionOverview extends TrafficSummary {
  name: string;
  /** Mean arrivals per second over the last 5 whole seconds. */
  requestsPerSecond: number;
  /** 5xx responses over responses in the last minute; null without a response. */
  errorRate: number | null;
  /** The latest tick's sample, null before the first. */
  latest: TickSample | null;
}

/** `GET /stats`: every function's last minute and the runtime process. */
export interface StatsOverview {
  at: string;
  /** Seconds each function's summary covers. */
  windowSeconds: number;
  runtime: ProcessSample & { uptimeSeconds: number; series: ProcessStats };
  functions: FunctionOverview[];
}

/**
 * The dashboard's data: per function, a ring of one slot per second for the last 15 minutes,
 * fed by the invoke path's observer (arrivals, responses by class, a latency histogram, cold
 * starts: O(1), no allocation once a function was seen, no database write) and by the
 * autoscaler's tick (prediction, desired/ready/busy replicas, panic; plus the runtime
 * process). Reads build the series on demand.
 */
export class StatsHistory {
  readonly #clock: Clock;
  readonly #seconds: number;
  readonly #functions: () => Iterable<string>;
  readonly #sample: (name: string) => TickSample;
  readonly #probe: ProcessProbe;
  readonly #series = new Map<string, FunctionSeries>();
  readonly #latest = new Map<string, TickSample>();
  readonly #process: ProcessSeries;
  /** What a function with no history reads as. */
  readonly #empty: FunctionSeries;
  readonly #startedAt: number;
  #lastTick = -1;

  constructor(options: StatsHistoryOptions) {
    this.#clock = options.clock;
    this.#seconds = options.seconds ?? HISTORY_SECONDS;
    this.#functions = options.functions;
    this.#sample = options.sample;
    this.#probe = options.probe ?? processProbe();
    this.#process = new ProcessSeries(this.#seconds);
    this.#empty = new FunctionSeries(this.#seconds);
    this.#startedAt = options.clock.now();
  }

  /** The invoke path's observer: every admitted arrival, every outcome of a live function. */
  observer(): InvocationObserver {
    return {
      start: (name) => this.#of(name).arrive(this.#second()),
      finish: (name, outcome) => {
        if (!outcome.live) return;
        const series = this.#of(name);
        const second = this.#second();
        // A refused invocation never started: it arrives and ends here.
        if (!outcome.admitted) series.arrive(second);
        series.finish(second, outcome.statusCode, outcome.waitedMs, outcome.coldStart);
      },
      forget: (name) => this.forget(name),
    };
  }

  /**
   * Samples every live function and the process into the second that just ended (and the
   * seconds a late tick skipped, with the same sample); drops the series of functions gone.
   * Called by the autoscaler after each of its ticks.
   */
  tick(): void {
    const last = this.#second() - 1;
    if (last <= this.#lastTick) return;
    const first = this.#lastTick < 0 ? last : Math.max(this.#lastTick + 1, last - this.#seconds + 1);
    this.#lastTick = last;
    const live = new Set<string>();
    for (const name of this.#functions()) {
      live.add(name);
      const sample = this.#sample(name);
      this.#latest.set(name, sample);
      const series = this.#of(name);
      for (let s = first; s <= last; s++) series.sample(s, sample);
    }
    for (const name of this.#series.keys()) if (!live.has(name)) this.forget(name);
    const process = this.#probe.sample();
    for (let s = first; s <= last; s++) this.#process.record(s, process);
  }

  /** A function's last `seconds` whole seconds, oldest first. */
  series(name: string, seconds: number): FunctionStats {
    const to = this.#second() - 1;
    const from = to - Math.min(seconds, this.#seconds) + 1;
    return (this.#series.get(name) ?? this.#empty).read(name, from, to);
  }

  /** Every live function's last minute, and the process with its last `seconds` of samples. */
  overview(seconds: number): StatsOverview {
    const now = this.#clock.now();
    const to = this.#second() - 1;
    const functions: FunctionOverview[] = [];
    for (const [name, series] of this.#series) {
      const summary = series.summary(to - SUMMARY_SECONDS + 1, to);
      const recent = series.summary(to - NOW_SECONDS + 1, to);
      functions.push({
        name,
        ...summary,
        requestsPerSecond: Math.round((recent.requests / NOW_SECONDS) * 100) / 100,
        errorRate: summary.responses === 0 ? null : Math.round((summary.errors5xx / summary.responses) * 10_000) / 10_000,
        latest: this.#latest.get(name) ?? null,
      });
    }
    functions.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      at: new Date(now).toISOString(),
      windowSeconds: SUMMARY_SECONDS,
      runtime: {
        ...this.#process.latest,
        uptimeSeconds: Math.round((now - this.#startedAt) / 1000),
        series: this.#process.read(to - Math.min(seconds, this.#seconds) + 1, to),
      },
      functions,
    };
  }

  /** Drops a function's history (after deletion). */
  forget(name: string): void {
    this.#series.delete(name);
    this.#latest.delete(name);
  }

  #second(): number {
    return Math.floor(this.#clock.now() / 1000);
  }

  #of(name: string): FunctionSeries {
    let series = this.#series.get(name);
    if (!series) {
      series = new FunctionSeries(this.#seconds);
      this.#series.set(name, series);
    }
    return series;
  }
}
