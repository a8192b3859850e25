import type { FunctionSpec } from '../../schemas/index.js';

/**
 * How long a job waits after its `attempt`-th failed try: `backoffMs` doubled per try, at most
 * `maxBackoffMs`, with "equal jitter" (between half and all of that), so jobs that failed
 * together do not all come back together, and the wait still grows visibly. `random` is in [0, 1).
 */
export function backoffMs(retry: FunctionSpec['retry'], attempt: number, random: number): number {
  const ceiling = Math.min(retry.maxBackoffMs, retry.backoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** An answer that is worth another try: the handler said "too many requests" or failed on its side. */
export function retryableStatus(statusCode: number): boolean {
  return statusCode === 429 || statusCode >= 500;
}
