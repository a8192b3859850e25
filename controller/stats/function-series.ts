import { LATENCY_BUCKETS, latencyBucket, latencyQuantile } from './latency-histogram.js';

/** What the autoscaler's tick samples of a function once per second. */
export interface TickSample {
  /** The EWMA of arrivals per second after this second. */
  predictedRps: number;
  /** The replicas the controller converges to (status.desiredReplicas). */
  desiredReplicas: number;
  readyReplicas: number;
  busyReplicas: number;
  /** Containers of any state but dead. */
  replicas: number;
  /** True while the autoscaler is in panic mode. */
  panic: boolean;
}

/** One function's last seconds as `GET /stats/:name` shows them: one entry per second, oldest first. */
export interface FunctionStats {
  name: string;
  /** Seconds per point (always 1). */
  step: number;
  /** Unix time, in seconds, of each point: the last one is the last whole second. */
  time: number[];
  /** Invocations that arrived (admitted or refused by the rate limit). */
  requests: number[];
  /** The prediction; null where the autoscaler took no sample (before the function existed, a stall). */
  predictedRps: Array<number | null>;
  desiredReplicas: Array<number | null>;
  readyReplicas: Array<number | null>;
  busyReplicas: Array<number | null>;
  replicas: Array<number | null>;
  /** 1 while in panic mode, 0 otherwise, null without a sample. */
  panic: Array<number | null>;
  /** Latency callers saw (waiting for a container included), ms; null in a second with no response. */
  p50Ms: Array<number | null>;
  p99Ms: Array<number | null>;
  /** Responses ended in the second, by status class. */
  responses: { '1xx': number[]; '2xx': number[]; '3xx': number[]; '4xx': number[]; '5xx': number[] };
  coldStarts: number[];
}

/** A window of a function's traffic summed up, for the overview. */
export interface TrafficSummary {
  requests: number;
  responses: number;
  errors5xx: number;
  coldStarts: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

// Fields of a slot's counters.
const REQUESTS = 0;
const CLASS_1XX = 1; // 1xx..5xx at 1..5
const COLD = 6;
const FIELDS = 7;

const SAMPLED = 1;
const PANIC = 2;

/**
 * A ring of one slot per second for one function: request counters, a latency histogram and
 * the tick's sample. Each slot carries the second it holds, so a write to a slot of an older
 * second clears it first: O(1) per write, nothing to sweep, and a read sees an unwritten
 * second as empty. The counters are allocated at the function's first invocation (a function
 * never called costs about 20 bytes a second of history).
 */
export class FunctionSeries {
  readonly #size: number;
  /** The second each slot holds; -1 for none. */
  readonly #second: Float64Array;
  #counts: Uint32Array | null = null;
  #latency: Uint32Array | null = null;
  readonly #predicted: Float32Array;
  /** desired, ready, busy, replicas per slot. */
  readonly #replicas: Uint16Array;
  readonly #flags: Uint8Array;

  constructor(seconds: number) {
    this.#size = seconds;
    this.#second = new Float64Array(seconds).fill(-1);
    this.#predicted = new Float32Array(seconds);
    this.#replicas = new Uint16Array(seconds * 4);
    this.#flags = new Uint8Array(seconds);
  }

  /** An invocation arrived in `second`. */
  arrive(second: number): void {
    const slot = this.#claim(second);
    const counts = this.#counts ?? this.#allocate();
    counts[slot * FIELDS + REQUESTS]++;
  }

  /** An invocation ended in `second` with `statusCode`, after `waitedMs`. */
  finish(second: number, statusCode: number, waitedMs: number, coldStart: boolean): void {
    const slot = this.#claim(second);
    const counts = this.#counts ?? this.#allocate();
    const cls = Math.floor(statusCode / 100);
    if (cls >= 1 && cls <= 5) counts[slot * FIELDS + CLASS_1XX + cls - 1]++;
    if (coldStart) counts[slot * FIELDS + COLD]++;
    this.#latency![slot * LATENCY_BUCKETS + latencyBucket(waitedMs)]++;
  }

  /** The tick's sample of `second`. */
  sample(second: number, s: TickSample): void {
    const slot = this.#claim(second);
    this.#predicted[slot] = s.predictedRps;
    const r = slot * 4;
    this.#replicas[r] = s.desiredReplicas;
    this.#replicas[r + 1] = s.readyReplicas;
    this.#replicas[r + 2] = s.busyReplicas;
    this.#replicas[r + 3] = s.replicas;
    this.#flags[slot] = SAMPLED | (s.panic ? PANIC : 0);
  }

  /** The seconds `from` to `to` (both included) as series; allocates, so it is for reads. */
  read(name: string, from: number, to: number): FunctionStats {
    const out: FunctionStats = {
      name,
      step: 1,
      time: [],
      requests: [],
      predictedRps: [],
      desiredReplicas: [],
      readyReplicas: [],
      busyReplicas: [],
      replicas: [],
      panic: [],
      p50Ms: [],
      p99Ms: [],
      responses: { '1xx': [], '2xx': [], '3xx': [], '4xx': [], '5xx': [] },
      coldStarts: [],
    };
    const classes = [out.responses['1xx'], out.responses['2xx'], out.responses['3xx'], out.responses['4xx'], out.responses['5xx']];
    for (let second = Math.max(from, to - this.#size + 1); second <= to; second++) {
      const slot = second % this.#size;
      const here = this.#second[slot] === second;
      const counts = here ? this.#counts : null;
      const c = slot * FIELDS;
      out.time.push(second);
      out.requests.push(counts ? counts[c + REQUESTS]! : 0);
      for (let k = 0; k < 5; k++) classes[k]!.push(counts ? counts[c + CLASS_1XX + k]! : 0);
      out.coldStarts.push(counts ? counts[c + COLD]! : 0);
      out.p50Ms.push(counts ? latencyQuantile(this.#latency!, slot * LATENCY_BUCKETS, 0.5) : null);
      out.p99Ms.push(counts ? latencyQuantile(this.#latency!, slot * LATENCY_BUCKETS, 0.99) : null);
      const sampled = here && (this.#flags[slot]! & SAMPLED) !== 0;
      const r = slot * 4;
      out.predictedRps.push(sampled ? Math.round(this.#predicted[slot]! * 100) / 100 : null);
      out.desiredReplicas.push(sampled ? this.#replicas[r]! : null);
      out.readyReplicas.push(sampled ? this.#replicas[r + 1]! : null);
      out.busyReplicas.push(sampled ? this.#replicas[r + 2]! : null);
      out.replicas.push(sampled ? this.#replicas[r + 3]! : null);
      out.panic.push(sampled ? ((this.#flags[slot]! & PANIC) !== 0 ? 1 : 0) : null);
    }
    return out;
  }

  /** The seconds `from` to `to` summed: counts, and percentiles of the merged histograms. */
  summary(from: number, to: number): TrafficSummary {
    const sum: TrafficSummary = { requests: 0, responses: 0, errors5xx: 0, coldStarts: 0, p50Ms: null, p99Ms: null };
    const counts = this.#counts;
    if (!counts) return sum;
    const merged = new Float64Array(LATENCY_BUCKETS);
    for (let second = Math.max(from, to - this.#size + 1); second <= to; second++) {
      const slot = second % this.#size;
      if (this.#second[slot] !== second) continue;
      const c = slot * FIELDS;
      sum.requests += counts[c + REQUESTS]!;
      for (let k = 0; k < 5; k++) sum.responses += counts[c + CLASS_1XX + k]!;
      sum.errors5xx += counts[c + CLASS_1XX + 4]!;
      sum.coldStarts += counts[c + COLD]!;
      for (let b = 0; b < LATENCY_BUCKETS; b++) merged[b] += this.#latency![slot * LATENCY_BUCKETS + b]!;
    }
    sum.p50Ms = latencyQuantile(merged, 0, 0.5);
    sum.p99Ms = latencyQuantile(merged, 0, 0.99);
    return sum;
  }

  /** The slot of `second`, cleared first when it held an older one. */
  #claim(second: number): number {
    const slot = second % this.#size;
    if (this.#second[slot] !== second) {
      this.#second[slot] = second;
      if (this.#counts) {
        this.#counts.fill(0, slot * FIELDS, (slot + 1) * FIELDS);
        this.#latency!.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
      }
      this.#predicted[slot] = 0;
      this.#replicas.fill(0, slot * 4, slot * 4 + 4);
      this.#flags[slot] = 0;
    }
    return slot;
  }

  #allocate(): Uint32Array {
    this.#counts = new Uint32Array(this.#size * FIELDS);
    this.#latency = new Uint32Array(this.#size * LATENCY_BUCKETS);
    return this.#counts;
  }
}
