/**
 * Upper bounds, in ms, of the latency buckets kept per second (one more bucket holds what
 * is slower than the last). Roughly geometric: a quarter of a millisecond (a warm call here)
 * to a minute (the longest timeout worth showing), about 1.5x apart, so a percentile read
 * from them is within about a quarter of the true value wherever it falls.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = [
  0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 40, 60, 100, 150, 250, 400, 600, 1000, 1500, 2500, 4000, 6000, 10_000, 15_000, 30_000, 60_000,
];

/** Buckets per histogram: one per bound and one past the last. */
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/** The bucket a latency falls in (bounds are inclusive); a few comparisons for fast calls. */
export function latencyBucket(ms: number): number {
  let i = 0;
  while (i < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[i]!) i++;
  return i;
}

/**
 * The `q` quantile (0..1) of a histogram stored at `counts[offset .. offset + LATENCY_BUCKETS)`,
 * interpolated linearly inside its bucket (the last bucket reads as its lower bound), or null
 * for an empty histogram. Two decimals.
 */
export function latencyQuantile(counts: ArrayLike<number>, offset: number, q: number): number | null {
  let total = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) total += counts[offset + i]!;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const n = counts[offset + i]!;
    if (n > 0 && below + n >= rank) {
      const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      if (i === LATENCY_BOUNDS_MS.length) return lo;
      const hi = LATENCY_BOUNDS_MS[i]!;
      return Math.round((lo + ((hi - lo) * Math.max(0, rank - below)) / n) * 100) / 100;
    }
    below += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}
