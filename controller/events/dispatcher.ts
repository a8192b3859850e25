import type { Clock, TimerHandle } from '../support/clock.js';
import { FunctionNotFound, GlambdarError, HandlerError, withCauses } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import type { FunctionRecord } from '../state/records.js';
import type { InvokeRequest } from '../pool/worker-client.js';
import type { InvokeOptions, InvokeOutcome } from '../invocation/invoker.js';
import type { AttemptEntry, Job, JobFinish } from './job.js';
import type { JobStore } from './job-store.js';
import { captureResponse, MAX_KEPT_BODY_BYTES } from './response-capture.js';
import { drainStream } from '../pool/response-stream.js';
import { backoffMs, retryableStatus } from './retry-policy.js';
import { IdTable } from '../../worker/id-table.js';

/** Headers the runtime sets on what a job's handler receives. */
export const ATTEMPT_HEADER = 'x-glambdar-attempt';
export const REQUEST_ID_HEADER = 'x-glambdar-request-id';
export const SCHEDULE_HEADER = 'x-glambdar-schedule';

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions {
  store: JobStore;
  /** The synchronous invoke path (Invoker.invoke): same pool, rate limit and records. */
  invoke: (name: string, request: InvokeRequest, body: Buffer, options: InvokeOptions) => Promise<InvokeOutcome>;
  /** The function as desired state has it now (the store's cache). */
  lookup: (name: string) => FunctionRecord | undefined;
  /** The HTTP status of an error, as a synchronous caller would get it. */
  statusOf: (err: GlambdarError) => number;
  clock: Clock;
  log: Logger;
  /** In [0, 1): jitter of back-offs. */
  random?: () => number;
  /** A job ended (succeeded or dead): its callback, counters. `read` gives the job as stored now. */
  onFinished?: (job: Job, status: 'succeeded' | 'dead', read: () => Job | undefined) => void;
  /** How long `stop` waits for tries in flight (default 5 s); later results are left for the next start. */
  stopGraceMs?: number;
  /** Paces tries so async work uses what synchronous traffic leaves (see AsyncGovernor); none: no pace. */
  governor?: { take(wanted: number): { granted: number; retryAfterMs: number } };
}

/** Tries per function since the process started, by how they ended. */
export interface AttemptCounts {
  succeeded: number;
  retried: number;
  dead: number;
}

interface FunctionQueue {
  running: number;
  timer: TimerHandle | null;
  wakeAt: number;
}

/**
 * Runs queued jobs through the synchronous invoke path: per function at most
 * `spec.asyncConcurrency` at once, due soonest and then oldest first, a try retried with
 * back-off while `spec.retry.attempts` allows when no answer came or the handler answered 429
 * or 5xx. The database is the queue: a job is claimed (marked running, its attempt counted) in
 * one statement before it runs, and a timer per function wakes it for the next due retry.
 */
export class Dispatcher {
  #o: DispatcherOptions;
  #queues = new Map<string, FunctionQueue>();
  #attempts = new Map<string, AttemptCounts>();
  /** Tries running, by a counter of this dispatcher's own (an IdTable: worker/id-table.ts says why not a Set). */
  #inFlight = new IdTable<Promise<void>>();
  #nextTry = 1;
  #tries = 0;
  #stopped = true;
  /** Set once `stop` has waited: results that come later are left for the next start to redo. */
  #closed = false;

  constructor(options: DispatcherOptions) {
    this.#o = options;
  }

  /**
   * Starts dispatching. Jobs a previous run left running were cut short (a kill, a crash): their
   * attempt is counted, and they are queued again, due now, unless it was their last (then
   * they end dead, as a last try without an answer does). Queued jobs of functions that no
   * longer exist end dead.
   */
  start(): void {
    this.#stopped = false;
    this.#closed = false;
    const { store, clock, log } = this.#o;
    // A try cut short counts (its handler may have run): one that was the last allowed ends the job.
    const { requeued, ended } = store.recoverInterrupted(clock.now(), (job) => {
      const fn = this.#o.lookup(job.funcName);
      return fn !== undefined && !fn.deleting && job.attempts >= fn.spec.retry.attempts;
    });
    if (requeued > 0) log.info(`${requeued} async jobs were running when the runtime stopped; they run again`);
    if (ended > 0) log.warn(`${ended} async jobs were in their last try when the runtime stopped; they end dead`);
    for (const name of store.functionsWithQueued()) this.kick(name);
  }

  /** Looks at a function's queue now: a job was queued, a try ended, a spec changed. */
  kick(name: string): void {
    if (this.#stopped) return;
    const fn = this.#o.lookup(name);
    if (!fn || fn.deleting) {
      this.functionGone(name);
      return;
    }
    const q = this.#queue(name);
    const free = fn.spec.asyncConcurrency - q.running;
    if (free <= 0) return;
    const now = this.#o.clock.now();
    const paced = this.#o.governor?.take(free) ?? { granted: free, retryAfterMs: 0 };
    const jobs = paced.granted > 0 ? this.#o.store.claim(name, now, paced.granted) : [];
    this.#tries += jobs.length;
    for (const job of jobs) {
      q.running += 1;
      const id = this.#nextTry++;
      this.#inFlight.set(id, this.#run(job).finally(() => this.#inFlight.delete(id)));
    }
    // Held back by the pace with jobs perhaps still due: look again when a try may start.
    if (jobs.length === paced.granted && paced.granted < free) this.#wakeAt(name, q, now + Math.max(1, paced.retryAfterMs));
    else if (jobs.length < free) this.#wakeAtNextDue(name, q);
  }

  /** Tries started since this dispatcher was made (the governor tells them from synchronous calls). */
  get tries(): number {
    return this.#tries;
  }

  /** Ends a deleted function's queued jobs as dead; its running ones end dead when their try fails. */
  functionGone(name: string): void {
    const q = this.#queues.get(name);
    if (q?.timer) this.#o.clock.clearTimeout(q.timer);
    if (q) q.timer = null;
    if (q && q.running === 0) this.#queues.delete(name);
    const killed = this.#o.store.killQueued(name, `function "${name}" was deleted`, this.#o.clock.now());
    if (killed > 0) {
      this.#o.log.info(`${killed} queued async jobs of deleted function ${name} are dead`);
      this.#count(name).dead += killed;
    }
  }

  /** Tries per function since start, by outcome. */
  attempts(): ReadonlyMap<string, AttemptCounts> {
    return this.#attempts;
  }

  /** Stops claiming; waits (bounded) for tries in flight to be recorded. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const q of this.#queues.values()) if (q.timer) this.#o.clock.clearTimeout(q.timer);
    if (this.#inFlight.size > 0) {
      await Promise.race([
        Promise.allSettled(this.#inFlight.values()),
        new Promise<void>((resolve) => this.#o.clock.setTimeout(resolve, this.#o.stopGraceMs ?? 5000)),
      ]);
    }
    this.#closed = true;
  }

  async #run(job: Job): Promise<void> {
    const { clock, store } = this.#o;
    const name = job.funcName;
    const startedAt = clock.now();
    const headers: Record<string, string | string[]> = { ...job.request.headers, [ATTEMPT_HEADER]: String(job.attempts), [REQUEST_ID_HEADER]: job.requestId };
    if (job.scheduledAt !== null) headers[SCHEDULE_HEADER] = new Date(job.scheduledAt).toISOString();
    let finish: JobFinish;
    try {
      const options = { requestId: job.requestId, waitForRate: true, ...(job.tag ? { tag: job.tag } : {}) };
      const outcome = await this.#o.invoke(name, { ...job.request, headers }, job.body, options);
      let response = captureResponse(outcome.headers, outcome.body);
      if (outcome.stream !== undefined) {
        // A streamed answer is read here to its end; the job keeps its start, as it would a body's.
        const read = await drainStream(outcome.stream, MAX_KEPT_BODY_BYTES + 4);
        if (read.error !== null) throw new HandlerError(`the response stream broke off after ${read.size} bytes: ${read.error}`);
        response = { ...captureResponse(outcome.headers, read.head), size: read.size, truncated: read.size > MAX_KEPT_BODY_BYTES };
      }
      finish = this.#decide(job, startedAt, outcome.statusCode, response, null, false);
    } catch (err) {
      const known = err instanceof GlambdarError;
      const statusCode = known ? this.#o.statusOf(err) : 500;
      const message = known ? err.message : `internal error: ${withCauses(err)}`;
      finish = this.#decide(job, startedAt, statusCode, null, message, err instanceof FunctionNotFound);
    }
    const q = this.#queue(name);
    q.running -= 1;
    if (this.#closed) return;
    store.finish(job.requestId, finish);
    const counts = this.#count(name);
    if (finish.kind === 'succeeded') counts.succeeded += 1;
    else if (finish.kind === 'retry') counts.retried += 1;
    else counts.dead += 1;
    if (finish.kind !== 'retry') this.#o.onFinished?.(job, finish.kind, () => store.get(job.requestId));
    this.kick(name);
  }

  /** How a try ended: succeeded, another try after a back-off, or dead. */
  #decide(job: Job, startedAt: number, statusCode: number, response: ReturnType<typeof captureResponse> | null, error: string | null, gone: boolean): JobFinish {
    const now = this.#o.clock.now();
    const failed = error !== null || retryableStatus(statusCode);
    const entry: AttemptEntry = {
      attempt: job.attempts,
      startedAt,
      finishedAt: now,
      statusCode,
      error: error ?? (failed ? `the handler answered ${statusCode}` : null),
    };
    if (!failed) return { kind: 'succeeded', at: now, statusCode, response: response!, entry };
    const why = entry.error!;
    // The current spec decides: a policy changed while the job waited applies to its next try.
    const fn = this.#o.lookup(job.funcName);
    if (gone || !fn || fn.deleting) return { kind: 'dead', at: now, statusCode, response, error: `function "${job.funcName}" was deleted`, entry };
    const retry = fn.spec.retry;
    if (job.attempts >= retry.attempts) {
      return { kind: 'dead', at: now, statusCode, response, error: `${why} (after ${job.attempts} of ${retry.attempts} attempts)`, entry };
    }
    const wait = backoffMs(retry, job.attempts, (this.#o.random ?? Math.random)());
    return { kind: 'retry', at: now, nextAttemptAt: now + wait, statusCode, response, error: why, entry };
  }

  #wakeAtNextDue(name: string, q: FunctionQueue): void {
    const next = this.#o.store.nextDueAt(name);
    if (next === null) {
      if (q.timer) this.#o.clock.clearTimeout(q.timer);
      q.timer = null;
      if (q.running === 0) this.#queues.delete(name);
      return;
    }
    this.#wakeAt(name, q, next);
  }

  #wakeAt(name: string, q: FunctionQueue, at: number): void {
    if (q.timer && q.wakeAt <= at) return;
    if (q.timer) this.#o.clock.clearTimeout(q.timer);
    q.wakeAt = at;
    q.timer = this.#o.clock.setTimeout(() => {
      q.timer = null;
      this.kick(name);
    }, Math.max(1, at - this.#o.clock.now()));
  }

  #queue(name: string): FunctionQueue {
    let q = this.#queues.get(name);
    if (!q) {
      q = { running: 0, timer: null, wakeAt: 0 };
      this.#queues.set(name, q);
    }
    return q;
  }

  #count(name: string): AttemptCounts {
    let c = this.#attempts.get(name);
    if (!c) {
      c = { succeeded: 0, retried: 0, dead: 0 };
      this.#attempts.set(name, c);
    }
    return c;
  }
}
