/** Past this many requests in flight the tail is computed with the normal approximation. */
const EXACT_UP_TO = 500;

/**
 * The fewest request slots that keep the predicted rate of requests finding every slot busy
 * at most `perSecond`: the smallest `n` with `rps x P(N >= n) <= perSecond`, where `N`, the
 * requests in flight, is Poisson with mean `concurrency` (an M/G/inf queue: exact for any
 * handler-time distribution, with `concurrency = rps x mean duration` by Little's law; by
 * PASTA an arrival sees that distribution). 0 without traffic.
 *
 * Why a rate and not a share of requests: a budget of waits per minute gives a busy function
 * relatively more headroom (square-root staffing) and a quiet one less, where one more
 * container would mostly stand idle.
 */
export function overflowSlots(concurrency: number, rps: number, perSecond: number): number {
  if (!(concurrency > 0 && rps > 0)) return 0;
  const target = perSecond / rps;
  if (target >= 1) return 0;
  if (concurrency > EXACT_UP_TO) {
    // The normal quantile with a continuity and a skew (Cornish-Fisher) correction.
    const z = upperQuantile(target);
    return Math.ceil(concurrency + 0.5 + z * Math.sqrt(concurrency) + (z * z - 1) / 6);
  }
  // tail(n) = P(N >= n) = 1 - P(N <= n - 1), walking the pmf in log space.
  let logPmf = -concurrency;
  let cdf = Math.exp(logPmf);
  let n = 1;
  while (1 - cdf > target) {
    logPmf += Math.log(concurrency) - Math.log(n);
    cdf += Math.exp(logPmf);
    n += 1;
  }
  return n;
}

/** The z with P(Z >= z) = p for a standard normal Z (0 < p < 1), by bisection on erfc. */
function upperQuantile(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (0.5 * erfc(mid / Math.SQRT2) > p) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886187 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}
