import type { Clock } from '../support/clock.js';
import { withCauses } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { jobView, type CallbackState, type Job } from './job.js';
import type { JobStore } from './job-store.js';

/** Posts one callback; resolves to the status the receiver answered. Tests give a fake. */
export type CallbackPoster = (url: string, body: string, headers: Record<string, string>) => Promise<number>;

/** The real poster: fetch, bounded in time. */
export const fetchPoster =
  (timeoutMs: number): CallbackPoster =>
  async (url, body, headers) => {
    const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await res.body?.cancel().catch(() => undefined);
    return res.status;
  };

/** Options of {@link Callbacks}. */
export interface CallbacksOptions {
  store: JobStore;
  clock: Clock;
  log: Logger;
  post: CallbackPoster;
  /** Tries per callback (default 5). */
  attempts?: number;
  /** First wait between tries, doubled each time (default 1 s). */
  backoffMs?: number;
}

/**
 * Delivers a finished job's result (status, headers, body: the job as `GET /invocations/:id`
 * shows it) to its `X-Callback-Url` with `x-glambdar-request-id`, retrying a network error, a
 * 429 or a 5xx a few times with back-off. Every try's outcome is stored in the job, and a
 * delivery still pending at a restart is made then.
 */
export class Callbacks {
  #o: CallbacksOptions;
  #inFlight = new Set<string>();
  #stopped = false;

  constructor(options: CallbacksOptions) {
    this.#o = options;
  }

  /** Delivers the callback of a job that just ended (succeeded or dead), if it has one. */
  deliver(job: Job): void {
    if (!job.callback || job.callback.state !== 'pending' || this.#inFlight.has(job.requestId) || this.#stopped) return;
    this.#inFlight.add(job.requestId);
    void this.#attempt(job, job.callback);
  }

  /** After a restart: delivers every callback left pending. */
  resume(): void {
    for (const job of this.#o.store.pendingCallbacks()) this.deliver(job);
  }

  stop(): void {
    this.#stopped = true;
  }

  async #attempt(job: Job, previous: CallbackState): Promise<void> {
    const { store, clock, log, post } = this.#o;
    const attempt = previous.attempts + 1;
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      statusCode = await post(previous.url, JSON.stringify(jobView(job)), {
        'content-type': 'application/json',
        'x-glambdar-request-id': job.requestId,
      });
      if (statusCode >= 300) error = `the callback answered ${statusCode}`;
    } catch (err) {
      error = `the callback could not be reached: ${withCauses(err)}`;
    }
    if (this.#stopped) return;
    const retryable = statusCode === null || statusCode === 429 || statusCode >= 500;
    const last = attempt >= (this.#o.attempts ?? 5);
    const state: CallbackState['state'] = error === null ? 'delivered' : retryable && !last ? 'pending' : 'failed';
    const next: CallbackState = { url: previous.url, state, attempts: attempt, statusCode, error, at: clock.now() };
    store.setCallback(job.requestId, next);
    if (state !== 'pending') {
      this.#inFlight.delete(job.requestId);
      if (state === 'failed') log.warn(`callback of job ${job.requestId} failed after ${attempt} tries: ${error}`);
      return;
    }
    const waitMs = (this.#o.backoffMs ?? 1000) * 2 ** (attempt - 1);
    clock.setTimeout(() => void this.#attempt(job, next), waitMs);
  }
}
