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
  /** The revision whose code answered (or was chosen, when none did). */
  revision: number;
  /** The traffic-stats key of the chosen revision: the name, or `name@revision` while traffic is split. */
  scalingKey: string;
}

/**
 * Everything the invoke path reports goes through this one interface: an admitted invocation
 * starts, every invocation finishes, a deleted function is forgotten. The outcome object is
 * the invoker's own and reused: observers read it synchronously and keep nothing of it but
 * the record.
 */
export interface InvocationObserver {
  /** An admitted invocation starts; `scalingKey` as in {@link InvocationOutcome}. */
  start(name: string, scalingKey: string): void;
  finish(name: string, outcome: InvocationOutcome): void;
  forget(name: string): void;
}

/** Tells each observer in turn; the invoker holds one of these. */
export class Observers implements InvocationObserver {
  readonly #all: readonly InvocationObserver[];

  constructor(observers: readonly InvocationObserver[]) {
    this.#all = observers;
  }

  start(name: string, scalingKey: string): void {
    for (const o of this.#all) o.start(name, scalingKey);
  }

  finish(name: string, outcome: InvocationOutcome): void {
    for (const o of this.#all) o.finish(name, outcome);
  }

  forget(name: string): void {
    for (const o of this.#all) o.forget(name);
  }
}

/**
 * Arrivals, concurrency and durations for the autoscaler: admitted invocations only. While
 * traffic is split, each is counted for the function and for its revision's key too, so the
 * function's prediction carries on and each revision is sized from its own share.
 */
export function trafficObserver(stats: TrafficStats): InvocationObserver {
  return {
    start: (name, key) => {
      stats.onStart(name);
      if (key !== name) stats.onStart(key);
    },
    finish: (name, outcome) => {
      if (!outcome.admitted) return;
      stats.onFinish(name, outcome.handlerMs);
      if (outcome.scalingKey !== name) stats.onFinish(outcome.scalingKey, outcome.handlerMs);
    },
    forget: (name) => {
      const prefix = `${name}@`;
      for (const key of [...stats.names()]) if (key === name || key.startsWith(prefix)) stats.forget(key);
    },
  };
}

/** Responses, waits and cold starts for `/metrics`: every outcome, the refused ones included. */
export function metricsObserver(metrics: InvocationMetrics): InvocationObserver {
  return {
    start: () => undefined,
    finish: (name, outcome) => {
      if (outcome.live) metrics.series(name, outcome.revision).record(outcome.statusCode, outcome.waitedMs, outcome.coldStart);
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
