/**
 * Upper bounds, in seconds, of the invocation duration buckets (+Inf comes after them).
 * They start at half a millisecond: a warm invocation here takes well under one.
 */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Statuses a caller can get: 100 to 599, as the worker protocol and the error mapping give them. */
const LOWEST_STATUS = 100;
const STATUS_SLOTS = 500;

/**
 * The counters of one function. The invoker looks one up when a request starts and records
 * into it at the outcome, so recording is a few array writes and no lookup; a request that
 * outlives its function's deletion counts in the dropped object instead of bringing it back.
 */
export class FunctionInvocations {
  // Float64, not Uint32: a process-lifetime counter at 20,000/s passes 2^32 in under three days.
  readonly #responses = new Float64Array(STATUS_SLOTS);
  /** Per bucket, not cumulative: an observation writes one slot; the snapshot sums. */
  readonly #buckets = new Float64Array(DURATION_BUCKETS_SECONDS.length + 1);
  #sumMs = 0;
  #count = 0;
  #coldStarts = 0;

  /** One invocation's outcome: the status its caller got and how long the caller waited. */
  record(statusCode: number, durationMs: number, coldStart: boolean): void {
    const slot = statusCode - LOWEST_STATUS;
    if (slot >= 0 && slot < STATUS_SLOTS) this.#responses[slot] = this.#responses[slot]! + 1;
    const ms = durationMs > 0 ? durationMs : 0;
    const seconds = ms / 1000;
    let i = 0;
    while (i < DURATION_BUCKETS_SECONDS.length && seconds > DURATION_BUCKETS_SECONDS[i]!) i++;
    this.#buckets[i] = this.#buckets[i]! + 1;
    this.#sumMs += ms;
    this.#count += 1;
    if (coldStart) this.#coldStarts += 1;
  }

  /** A copy for exposition; allocates, so it is for scrapes, not for the invoke path. */
  snapshot(name: string, revision: number): InvocationSnapshot {
    const responses: InvocationSnapshot['responses'] = [];
    for (let slot = 0; slot < STATUS_SLOTS; slot++) {
      const count = this.#responses[slot]!;
      if (count > 0) responses.push({ code: slot + LOWEST_STATUS, count });
    }
    const buckets: InvocationSnapshot['buckets'] = [];
    let cumulative = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      cumulative += this.#buckets[i]!;
      buckets.push({ le: DURATION_BUCKETS_SECONDS[i] ?? Infinity, count: cumulative });
    }
    return { name, revision, responses, buckets, sumSeconds: this.#sumMs / 1000, count: this.#count, coldStarts: this.#coldStarts };
  }
}

/** One revision's counters as Prometheus exposes them. */
export interface InvocationSnapshot {
  name: string;
  /** The revision whose code answered (or was chosen, when no container took the request). */
  revision: number;
  /** Invocations by the HTTP status the caller got, ascending; statuses never sent are left out. */
  responses: Array<{ code: number; count: number }>;
  /**
   * Cumulative, as the Prometheus text format wants: each bucket counts every invocation that
   * took at most `le` seconds. The last has `le` Infinity (+Inf) and equals `count`.
   */
  buckets: Array<{ le: number; count: number }>;
  sumSeconds: number;
  count: number;
  coldStarts: number;
}

/**
 * Per-revision invocation counters for `GET /metrics`: responses by status, the time callers
 * waited (a histogram) and cold starts. They live as long as the process; Prometheus takes a
 * restart's reset in its stride.
 *
 * Recording sits on the invoke path, so it is hand-rolled rather than prom-client: after a
 * revision's first invocation it is two Map lookups and writes into preallocated arrays, with
 * no label hashing and no allocation.
 */
export class InvocationMetrics {
  #functions = new Map<string, Map<number, FunctionInvocations>>();

  /** The counters of a function's revision, created on its first invocation. Call it only for functions that exist. */
  series(name: string, revision: number): FunctionInvocations {
    let revisions = this.#functions.get(name);
    if (!revisions) {
      revisions = new Map();
      this.#functions.set(name, revisions);
    }
    let series = revisions.get(revision);
    if (!series) {
      series = new FunctionInvocations();
      revisions.set(revision, series);
    }
    return series;
  }

  /** Every revision invoked since its function was deployed (or since this process started). */
  snapshot(): InvocationSnapshot[] {
    const out: InvocationSnapshot[] = [];
    for (const [name, revisions] of this.#functions) for (const [revision, series] of revisions) out.push(series.snapshot(name, revision));
    return out;
  }

  /** Drops a function's counters (after deletion), so its series leave the exposition. */
  forget(name: string): void {
    this.#functions.delete(name);
  }
}
