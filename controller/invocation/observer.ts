import type { TrafficStats } from '../autoscaling/traffic-stats.js';
import type { InvocationRecord } from '../state/records.js';
import type { InvocationLog } from './invocation-log.js';
import type { InvocationMetrics } from './invocation-metrics.js';

/** How one invocation of an existing function ended, as every observer sees it. */
export interface InvocationOutcome {
  /** False when the rate limiter refused it: it never waited for a container. */
  admitted: boolean;
  /** The HTTP status its caller got. */
  statusCode: number;
  /** How long the caller waited, a container start included (monotonic ms). */
  waitedMs: number;
  /** The handler's own time, when it ran. */
  handlerMs: number | undefined;
  coldStart: boolean;
  /** The record for the log; null when no container took the request. */
  record: InvocationRecord | null;
  /** False when the function was deleted while the invocation ran: it leaves no series behind. */
  live: boolean;
}

/**
 * Everything the invoke path reports goes through this one interface: an admitted invocation
 * starts, every invocation finishes, a deleted function is forgotten. The outcome object is
 * the invoker's own and reused: observers read it synchronously and keep nothing of it but
 * the record.
 */
export interface InvocationObserver {
  start(name: string): void;
  finish(name: string, outcome: InvocationOutcome): void;
  forget(name: string): void;
}

/** Tells each observer in turn; the invoker holds one of these. */
export class Observers implements InvocationObserver {
  readonly #all: readonly InvocationObserver[];

  constructor(observers: readonly InvocationObserver[]) {
    this.#all = observers;
  }

  start(name: string): void {
    for (const o of this.#all) o.start(name);
  }

  finish(name: string, outcome: InvocationOutcome): void {
    for (const o of this.#all) o.finish(name, outcome);
  }

  forget(name: string): void {
    for (const o of this.#all) o.forget(name);
  }
}

/** Arrivals, concurrency and durations for the autoscaler: admitted invocations only. */
export function trafficObserver(stats: TrafficStats): InvocationObserver {
  return {
    start: (name) => stats.onStart(name),
    finish: (name, outcome) => {
      if (outcome.admitted) stats.onFinish(name, outcome.handlerMs);
    },
    forget: (name) => stats.forget(name),
  };
}

/** Responses, waits and cold starts for `/metrics`: every outcome, the refused ones included. */
export function metricsObserver(metrics: InvocationMetrics): InvocationObserver {
  return {
    start: () => undefined,
    finish: (name, outcome) => {
      if (outcome.live) metrics.series(name).record(outcome.statusCode, outcome.waitedMs, outcome.coldStart);
    },
    forget: (name) => metrics.forget(name),
  };
}

/** The invocation log: one record per invocation a container took. */
export function recordsObserver(log: InvocationLog): InvocationObserver {
  return {
    start: () => undefined,
    finish: (_name, outcome) => {
      if (outcome.record) log.record(outcome.record);
    },
    forget: () => undefined,
  };
}
