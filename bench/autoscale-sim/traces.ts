/**
 * The simulator's workloads. A trace draws its requests (arrival times and handler durations)
 * from a seeded PRNG, so a run is a pure function of its seed: every policy sees the same
 * requests. Handler durations are log-normal (sigma 0.5) around each function's mean.
 */

/** One function's requests in a trace, in arrival order. */
export interface Workload {
  name: string;
  /** Arrival times in ms from the trace's start, ascending. */
  arrivals: number[];
  /** Handler time of each request, in ms. */
  durations: number[];
  meanDurationMs: number;
}

/** A generated workload of one or more functions. */
export interface Trace {
  name: string;
  /** One line for the table's legend. */
  description: string;
  durationMs: number;
  /** The requests, drawn from `random`. */
  generate(random: () => number): Workload[];
}

const SECOND = 1000;
const MINUTE = 60_000;
/** Every standard trace lasts this long: long enough for a rhythm to recur a dozen times. */
export const TRACE_MS = 30 * MINUTE;

/** mulberry32: a small, fast, seedable PRNG; good enough for workloads. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An exponential draw of mean `mean`. */
function exponential(random: () => number, mean: number): number {
  return -Math.log(1 - random()) * mean;
}

/** Arrivals of a Poisson process of rate `rate(t)` (req/s) over `[from, to)`, by thinning. */
export function poissonArrivals(random: () => number, rate: (t: number) => number, maxRate: number, from: number, to: number, out: number[] = []): number[] {
  if (maxRate <= 0) return out;
  for (let t = from; ; ) {
    t += exponential(random, SECOND / maxRate);
    if (t >= to) return out;
    if (random() * maxRate < rate(t)) out.push(t);
  }
}

/** A workload of these arrivals with log-normal handler times around `meanDurationMs`. */
export function workload(random: () => number, name: string, arrivals: number[], meanDurationMs: number): Workload {
  const sigma = 0.5;
  const mu = Math.log(meanDurationMs) - (sigma * sigma) / 2;
  const durations = arrivals.map(() => {
    const u1 = Math.max(random(), 1e-12);
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * random());
    return Math.max(1, Math.round(Math.exp(mu + sigma * z)));
  });
  return { name, arrivals, durations, meanDurationMs };
}

/** A one-function trace with Poisson arrivals of rate `rate(t)`. */
function rateTrace(name: string, description: string, rate: (t: number) => number, maxRate: number, durationMs: number, meanDurationMs: number): Trace {
  return { name, description: `${description}; handler ${meanDurationMs} ms`, durationMs, generate: (random) => [workload(random, 'fn', poissonArrivals(random, rate, maxRate, 0, durationMs), meanDurationMs)] };
}

/** Constant rate. */
export function steadyTrace(options: { rps?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const rps = options.rps ?? 50;
  return rateTrace('steady', `${rps} req/s throughout`, () => rps, rps, options.durationMs ?? TRACE_MS, options.meanDurationMs ?? 100);
}

/** A day compressed into `periodMs`: the rate follows a cosine from `lowRps` up to `highRps` and back. */
export function diurnalTrace(options: { lowRps?: number; highRps?: number; periodMs?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const low = options.lowRps ?? 5;
  const high = options.highRps ?? 150;
  const period = options.periodMs ?? 10 * MINUTE;
  const rate = (t: number) => low + ((high - low) * (1 - Math.cos((2 * Math.PI * t) / period))) / 2;
  return rateTrace('diurnal', `${low} -> ${high} -> ${low} req/s, cosine, period ${period / SECOND} s`, rate, high, options.durationMs ?? TRACE_MS, options.meanDurationMs ?? 100);
}

/** A base rate with sudden bursts of `factor` times it, every `everyMs` for `lengthMs`. */
export function burstTrace(
  options: { baseRps?: number; factor?: number; everyMs?: number; lengthMs?: number; firstAtMs?: number; durationMs?: number; meanDurationMs?: number } = {},
): Trace {
  const base = options.baseRps ?? 10;
  const factor = options.factor ?? 10;
  const every = options.everyMs ?? 45 * SECOND;
  const length = options.lengthMs ?? 5 * SECOND;
  const first = options.firstAtMs ?? 20 * SECOND;
  const rate = (t: number) => (t >= first && (t - first) % every < length ? base * factor : base);
  return rateTrace('burst', `${base} req/s, ${factor}x for ${length / SECOND} s every ${every / SECOND} s`, rate, base * factor, options.durationMs ?? TRACE_MS, options.meanDurationMs ?? 100);
}

/** `onMs` of traffic at `rps`, then `offMs` of none, repeated. */
export function onOffTrace(options: { rps?: number; onMs?: number; offMs?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const rps = options.rps ?? 50;
  const on = options.onMs ?? 60 * SECOND;
  const off = options.offMs ?? 90 * SECOND;
  const rate = (t: number) => (t % (on + off) < on ? rps : 0);
  return rateTrace('on-off', `${rps} req/s for ${on / SECOND} s, then ${off / SECOND} s of nothing, repeated`, rate, rps, options.durationMs ?? TRACE_MS, options.meanDurationMs ?? 100);
}

/** Bursts at `period ± jitter` (uniform), the first at `firstAtMs`: Poisson arrivals at `rps` for `lengthMs` each. */
function timerArrivals(random: () => number, o: { periodMs: number; jitterMs: number; rps: number; lengthMs: number; firstAtMs: number; durationMs: number }): number[] {
  const out: number[] = [];
  for (let k = 0; ; k++) {
    const at = o.firstAtMs + k * o.periodMs + (2 * random() - 1) * o.jitterMs;
    if (at >= o.durationMs) return out;
    poissonArrivals(random, () => o.rps, o.rps, Math.max(0, at), Math.min(o.durationMs, at + o.lengthMs), out);
  }
}

/** A timer-driven function: one burst every `periodMs`, each off its schedule by up to `jitterMs`. */
export function timerTrace(options: { periodMs?: number; jitterMs?: number; rps?: number; lengthMs?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const o = { periodMs: options.periodMs ?? 2 * MINUTE, jitterMs: options.jitterMs ?? 5 * SECOND, rps: options.rps ?? 20, lengthMs: options.lengthMs ?? 3 * SECOND, firstAtMs: 10 * SECOND };
  const durationMs = options.durationMs ?? TRACE_MS;
  const meanDurationMs = options.meanDurationMs ?? 200;
  return {
    name: 'timer',
    description: `a burst of ${o.rps} req/s for ${o.lengthMs / SECOND} s every ${o.periodMs / SECOND} s ± ${o.jitterMs / SECOND} s (uniform); handler ${meanDurationMs} ms`,
    durationMs,
    generate: (random) => [workload(random, 'fn', timerArrivals(random, { ...o, durationMs }), meanDurationMs)],
  };
}

/** A Pareto draw: at least `min`, tail index `alpha` (heavy-tailed: infinite variance below 2). */
function pareto(random: () => number, min: number, alpha: number): number {
  return min / Math.pow(1 - random(), 1 / alpha);
}

/** Sessions of Poisson arrivals separated by Pareto-distributed pauses. */
function sessionArrivals(random: () => number, o: { rps: number; sessionMs: number; gapMinMs: number; alpha: number; durationMs: number }): number[] {
  const out: number[] = [];
  for (let t = 0; t < o.durationMs; ) {
    const end = Math.min(o.durationMs, t + exponential(random, o.sessionMs));
    poissonArrivals(random, () => o.rps, o.rps, t, end, out);
    t = end + pareto(random, o.gapMinMs, o.alpha);
  }
  return out;
}

/**
 * Poisson arrivals with a heavy-tailed inter-arrival time: sessions of Poisson arrivals
 * (exponential lengths) separated by Pareto pauses, most of them short and a few very long.
 */
export function heavyTailTrace(options: { rps?: number; sessionMs?: number; gapMinMs?: number; alpha?: number; durationMs?: number; meanDurationMs?: number } = {}): Trace {
  const o = { rps: options.rps ?? 5, sessionMs: options.sessionMs ?? 20 * SECOND, gapMinMs: options.gapMinMs ?? 20 * SECOND, alpha: options.alpha ?? 1.5 };
  const durationMs = options.durationMs ?? TRACE_MS;
  const meanDurationMs = options.meanDurationMs ?? 100;
  return {
    name: 'heavy-tail',
    description: `sessions of ${o.rps} req/s (exponential, mean ${o.sessionMs / SECOND} s) between Pareto pauses (min ${o.gapMinMs / SECOND} s, alpha ${o.alpha}); handler ${meanDurationMs} ms`,
    durationMs,
    generate: (random) => [workload(random, 'fn', sessionArrivals(random, { ...o, durationMs }), meanDurationMs)],
  };
}

/** A draw spread evenly on a log scale between `lo` and `hi`. */
function logUniform(random: () => number, lo: number, hi: number): number {
  return lo * Math.pow(hi / lo, random());
}

/**
 * Many small functions sharing the host, each drawn from the seed with a rate spread over
 * orders of magnitude as in the Azure study: a third timer-driven (a burst of a few requests
 * every 1 to 10 minutes, jitter up to 5 %), a third Poisson (0.005 to 0.5 req/s), a third
 * on-off (1 to 10 req/s for 10 to 60 s, then 30 to 300 s of nothing).
 */
export function mixTrace(options: { functions?: number; durationMs?: number } = {}): Trace {
  const count = options.functions ?? 24;
  const durationMs = options.durationMs ?? TRACE_MS;
  return {
    name: 'mix',
    description: `${count} small functions: a third timers (every 1-10 min), a third Poisson (0.005-0.5 req/s), a third on-off (1-10 req/s, 10-60 s on, 30-300 s off); handlers 50-500 ms`,
    durationMs,
    generate: (random) => {
      const out: Workload[] = [];
      for (let i = 0; i < count; i++) {
        const meanDurationMs = Math.round(logUniform(random, 50, 500));
        let arrivals: number[];
        if (i % 3 === 0) {
          const periodMs = Math.round(logUniform(random, MINUTE, 10 * MINUTE));
          const o = { periodMs, jitterMs: periodMs * 0.05 * random(), rps: 2, lengthMs: logUniform(random, 1, 3) * SECOND, firstAtMs: random() * periodMs, durationMs };
          arrivals = timerArrivals(random, o);
        } else if (i % 3 === 1) {
          const rps = logUniform(random, 0.005, 0.5);
          arrivals = poissonArrivals(random, () => rps, rps, 0, durationMs);
        } else {
          const rps = logUniform(random, 1, 10);
          const on = logUniform(random, 10, 60) * SECOND;
          const off = logUniform(random, 30, 300) * SECOND;
          const phase = random() * (on + off);
          arrivals = poissonArrivals(random, (t) => ((t + phase) % (on + off) < on ? rps : 0), rps, 0, durationMs);
        }
        out.push(workload(random, `fn${i}`, arrivals, meanDurationMs));
      }
      return out;
    },
  };
}

/** The traces of the README table. */
export function standardTraces(): Trace[] {
  return [steadyTrace(), diurnalTrace(), burstTrace(), onOffTrace(), timerTrace(), heavyTailTrace(), mixTrace()];
}
