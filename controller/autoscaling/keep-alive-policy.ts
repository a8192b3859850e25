import type { IdleTimes } from './traffic-stats.js';

/** Tuning of the idle-time policy; every field has a default. */
export interface KeepAlivePolicyOptions {
  /** Percentile of idle times (0..1) where the pre-warm window begins. Default 0.05. */
  prewarmPercentile?: number;
  /**
   * Percentiles of idle times (0..1) the keep-alive window may end at, tried highest first:
   * the first whose windows pass the cost check is used. Default [0.99, 0.95, 0.9].
   */
  keepAlivePercentiles?: readonly number[];
  /** The pre-warm begins this share before its percentile, the keep-alive ends this share after its. Default 0.05. */
  margin?: number;
  /** About a container start and a tick: the pre-warm begins at least this long before its percentile. Default 3000 ms. */
  leadMs?: number;
  /** Idle times the histogram needs before it decides alone (with fewer it only adds a pre-warm). Default 3. */
  minSamples?: number;
  /** While learning, too spread when the highest keep-alive percentile exceeds the pre-warm one this many times. Default 3. */
  maxSpread?: number;
  /** Unloading for less than this is not worth a stop and a start: the containers are kept instead. Default 5000 ms. */
  minUnloadMs?: number;
}

/**
 * What a function does while it is idle, in idle time (ms since its last request arrived; it
 * is idle once nothing has been in flight for the histogram's `minMs`):
 * it keeps its containers over `[0, keepUntilMs)` and holds them again (pre-warmed) over
 * `[prewarmFromMs, prewarmUntilMs)`; outside both it has none (beyond `minWarm`).
 *
 * - `histogram`: the idle times are many and regular enough; the containers are unloaded as
 *   soon as the function is idle and pre-warmed a little before the next arrival is due (or
 *   kept until it is, when unloading would last less than `minUnloadMs`).
 * - `learning`: 1 to `minSamples - 1` idle times, close together: the keep-alive of
 *   `fallback` plus the pre-warm they suggest, so learning costs no cold start the
 *   keep-alive would have avoided.
 * - `fallback`: the fixed keep-alive (`idleTimeoutMs`), as before idle times were kept.
 */
export interface IdlePlan {
  mode: 'histogram' | 'learning' | 'fallback';
  /** Why the histogram alone does not decide; absent in `histogram` mode. */
  reason?: 'no idle times' | 'few idle times' | 'short pauses' | 'too spread' | 'out of range';
  keepUntilMs: number;
  prewarmFromMs: number;
  prewarmUntilMs: number;
}

/** Tolerance of the cold-start comparison (the shares are sums of floating-point weights). */
const EPSILON = 1e-9;

/**
 * The hybrid histogram policy of Shahrad et al. ("Serverless in the Wild", USENIX ATC 2020)
 * for one function: the pre-warm window starts at a low percentile of its idle times (less a
 * margin and the time a start takes), the keep-alive window ends at a high percentile (plus a
 * margin). It decides WHEN containers are held; how many is the autoscaler's (the capacity
 * its EWMA planned for the last busy period).
 *
 * Safety: the windows replace the fixed keep-alive of `idleTimeoutMs` only when, replayed on
 * the function's own idle times, they would have met no more cold starts than that keep-alive
 * and held containers at most `maxCost` times as long. A histogram that fails this for every
 * keep-alive percentile is too spread to predict (Poisson-like or heavy-tailed pauses) and
 * the keep-alive stays; so does one with a high percentile beyond the histogram's range.
 */
export class KeepAlivePolicy {
  #low: number;
  #highs: readonly number[];
  #margin: number;
  #leadMs: number;
  #minSamples: number;
  #maxSpread: number;
  #minUnloadMs: number;

  constructor(options: KeepAlivePolicyOptions = {}) {
    this.#low = options.prewarmPercentile ?? 0.05;
    this.#highs = options.keepAlivePercentiles ?? [0.99, 0.95, 0.9];
    this.#margin = options.margin ?? 0.05;
    this.#leadMs = options.leadMs ?? 3000;
    this.#minSamples = Math.max(1, options.minSamples ?? 3);
    this.#maxSpread = options.maxSpread ?? 3;
    this.#minUnloadMs = options.minUnloadMs ?? 5000;
  }

  /** The plan for a function with these idle times and this spec's `idleTimeoutMs`. */
  plan(idle: IdleTimes | undefined, idleTimeoutMs: number): IdlePlan {
    const fallback = (reason: NonNullable<IdlePlan['reason']>): IdlePlan => ({ mode: 'fallback', reason, keepUntilMs: idleTimeoutMs, prewarmFromMs: 0, prewarmUntilMs: 0 });
    if (!idle || idle.samples === 0) return fallback('no idle times');
    const low = idle.percentile(this.#low);
    if (low === null || !Number.isFinite(low)) return fallback('out of range');
    const until = (q: number): number => (idle.percentile(q) ?? Infinity) * (1 + this.#margin);

    if (idle.samples < this.#minSamples) {
      // Cold-safe whatever the next pause: the keep-alive stays, the pre-warm is added.
      const prewarmFromMs = this.#prewarmFrom(low);
      const top = until(this.#highs[0] ?? 0.99);
      if (!Number.isFinite(top)) return fallback('out of range');
      // Too spread, or more holding than one cold start is worth (it avoids at most one a
      // pause): past the lead every pre-warm needs, at most one keep-alive.
      if (top > this.#maxSpread * low * (1 + this.#margin) || top - prewarmFromMs > idleTimeoutMs + this.#leadMs) return fallback('too spread');
      return { mode: 'learning', reason: 'few idle times', keepUntilMs: idleTimeoutMs, prewarmFromMs, prewarmUntilMs: top };
    }

    const prewarmFromMs = this.#prewarmFrom(low);
    if (prewarmFromMs - idle.minMs < this.#minUnloadMs) return fallback('short pauses');
    // The fixed keep-alive, replayed on the idle times: cold when a pause outlasts it.
    const keepCold = 1 - idle.share(idleTimeoutMs);
    const keepHold = idle.meanCapped(idleTimeoutMs);
    let outOfRange = true;
    for (const q of this.#highs) {
      const high = until(q);
      if (!Number.isFinite(high)) continue;
      outOfRange = false;
      // Never given up sooner than the keep-alive would: a late burst finds what an early one would.
      const prewarmUntilMs = Math.max(high, idleTimeoutMs);
      // Unloaded from about `minMs` (when the pause counts as idle) until the pre-warm.
      const cold = idle.share(prewarmFromMs) + 1 - idle.share(prewarmUntilMs);
      const hold = idle.minMs + idle.meanCapped(prewarmUntilMs) - idle.meanCapped(prewarmFromMs);
      // A cold start avoided is worth at most `idleTimeoutMs` of holding: the rate the keep-alive pays.
      if (cold <= keepCold + EPSILON && hold <= keepHold + (keepCold - cold) * idleTimeoutMs + EPSILON) {
        return { mode: 'histogram', keepUntilMs: 0, prewarmFromMs, prewarmUntilMs };
      }
    }
    return fallback(outOfRange ? 'out of range' : 'too spread');
  }

  /** Where the pre-warm begins: `margin` before the low percentile, and at least `leadMs` before it. */
  #prewarmFrom(low: number): number {
    return Math.max(0, Math.min(low * (1 - this.#margin), low - this.#leadMs));
  }
}

/** Whether a plan holds the function's containers after `idleForMs` of idle time. */
export function holds(plan: IdlePlan, idleForMs: number): boolean {
  return idleForMs < plan.keepUntilMs || (idleForMs >= plan.prewarmFromMs && idleForMs < plan.prewarmUntilMs);
}
