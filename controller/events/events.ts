import { randomUUID } from 'node:crypto';
import type { Clock, TimerHandle } from '../support/clock.js';
import { FunctionNotFound, JobNotDead, JobNotFound, QueueFull, withCauses } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import type { FunctionRecord } from '../state/records.js';
import type { InvokeRequest } from '../pool/worker-client.js';
import type { Callbacks } from './callbacks.js';
import type { AttemptCounts, Dispatcher } from './dispatcher.js';
import { jobView, type Job, type JobCounts, type JobStatus, type JobView } from './job.js';
import type { JobStore } from './job-store.js';
import type { Scheduler, ScheduleStatus } from './scheduler.js';

/** How often succeeded jobs past their retention are trimmed. */
const TRIM_INTERVAL_MS = 10 * 60_000;

/** What `/metrics` shows of async jobs, per function. */
export interface JobMetrics {
  counts: JobCounts[];
  attempts: ReadonlyMap<string, AttemptCounts>;
}

/** Options of {@link Events}. */
export interface EventsOptions {
  store: JobStore;
  dispatcher: Dispatcher;
  scheduler: Scheduler;
  callbacks: Callbacks;
  /** Paces the dispatcher under synchronous load; started and stopped with it. */
  governor?: { start(): void; stop(): void };
  clock: Clock;
  log: Logger;
  lookup: (name: string) => FunctionRecord | undefined;
  /** Succeeded jobs are trimmed this long after they finished. */
  retentionMs: number;
  /** Jobs per function that are queued, running or dead, at most. */
  maxJobsPerFunction: number;
}

/**
 * Async invocations and schedules, as the Runtime's verbs use them: a job is committed before
 * its caller hears of it, then the dispatcher runs it; the scheduler enqueues fires; callbacks
 * report ends. Jobs per function that are not succeeded are bounded (GLAMBDAR_MAX_JOBS),
 * counted here (only this process writes jobs) so a full queue is refused before any write.
 */
export class Events {
  #o: EventsOptions;
  /** Queued, running and dead jobs per function. */
  #open = new Map<string, number>();
  #trimTimer: TimerHandle | null = null;
  /** After stop the job store is closed: late calls (a deletion finishing during shutdown) do nothing. */
  #stopped = false;

  constructor(options: EventsOptions) {
    this.#o = options;
  }

  start(): void {
    this.#open = this.#o.store.openCounts();
    this.#o.governor?.start();
    this.#o.dispatcher.start();
    this.#o.scheduler.start();
    this.#o.callbacks.resume();
    this.#trim();
  }

  /** Stores an async invocation (committed when this returns) and has it dispatched; `tag` names the revision its tries go to. */
  enqueue(name: string, request: InvokeRequest, body: Buffer, callbackUrl: string | null, tag: string | null = null): JobView {
    const fn = this.#o.lookup(name);
    if (!fn || fn.deleting) throw new FunctionNotFound(name);
    if (!this.hasRoom(name)) throw new QueueFull(name, this.#o.maxJobsPerFunction);
    const job = this.#o.store.enqueue({ requestId: randomUUID(), funcName: name, request, body, callbackUrl, scheduledAt: null, tag }, this.#o.clock.now());
    this.enqueued(job);
    return jobView(job);
  }

  /** A job is stored: count it and dispatch. */
  enqueued(job: Job): void {
    this.#open.set(job.funcName, (this.#open.get(job.funcName) ?? 0) + 1);
    this.#o.dispatcher.kick(job.funcName);
  }

  /** A job ended: a succeeded one leaves the bound; its callback (if any) gets the job as stored. */
  finished(job: Job, status: 'succeeded' | 'dead', read: () => Job | undefined): void {
    if (status === 'succeeded') this.#open.set(job.funcName, Math.max(0, (this.#open.get(job.funcName) ?? 1) - 1));
    if (job.callbackUrl === null) return;
    const stored = read();
    if (stored) this.#o.callbacks.deliver(stored);
  }

  /** True while the function may take another job. */
  hasRoom(name: string): boolean {
    return (this.#open.get(name) ?? 0) < this.#o.maxJobsPerFunction;
  }

  get(requestId: string): JobView {
    const job = this.#o.store.get(requestId);
    if (!job) throw new JobNotFound(requestId);
    return jobView(job);
  }

  list(filter: { funcName?: string; status?: JobStatus; limit: number }): JobView[] {
    return this.#o.store.list(filter).map(jobView);
  }

  /** Queues a dead job again, for a full new round of tries. */
  retry(requestId: string): JobView {
    const job = this.#o.store.get(requestId);
    if (!job) throw new JobNotFound(requestId);
    if (job.status !== 'dead') throw new JobNotDead(requestId, job.status);
    const fn = this.#o.lookup(job.funcName);
    if (!fn || fn.deleting) throw new FunctionNotFound(job.funcName);
    const queued = this.#o.store.requeue(requestId, this.#o.clock.now());
    if (!queued) throw new JobNotDead(requestId, this.#o.store.get(requestId)?.status ?? 'gone');
    this.#o.dispatcher.kick(job.funcName);
    return jobView(queued);
  }

  /** A function's spec changed (or it was created): its schedule and concurrency follow. */
  specChanged(name: string): void {
    if (this.#stopped) return;
    this.#o.scheduler.sync(name);
    this.#o.dispatcher.kick(name);
  }

  /** A function is gone: its queued jobs end dead, its schedule stops. */
  functionGone(name: string): void {
    if (this.#stopped) return;
    this.#o.dispatcher.functionGone(name);
    this.#o.scheduler.sync(name);
    // Jobs that ended dead just now may have callbacks to make.
    this.#o.callbacks.resume();
  }

  schedule(name: string): ScheduleStatus {
    return this.#o.scheduler.status(name);
  }

  metrics(): JobMetrics {
    if (this.#stopped) return { counts: [], attempts: new Map() };
    return { counts: this.#o.store.counts(), attempts: this.#o.dispatcher.attempts() };
  }

  /** Stops fires and claims, lets tries in flight finish (bounded), then closes the job store. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#trimTimer) this.#o.clock.clearTimeout(this.#trimTimer);
    this.#o.scheduler.stop();
    this.#o.governor?.stop();
    this.#o.callbacks.stop();
    await this.#o.dispatcher.stop();
    this.#o.store.close();
  }

  #trim(): void {
    const { store, clock, log } = this.#o;
    try {
      const gone = store.trimSucceeded(clock.now() - this.#o.retentionMs, this.#o.maxJobsPerFunction);
      if (gone > 0) log.debug(`trimmed ${gone} succeeded async jobs`);
    } catch (err) {
      log.warn(`could not trim succeeded async jobs: ${withCauses(err)}`);
    }
    this.#trimTimer = clock.setTimeout(() => this.#trim(), TRIM_INTERVAL_MS);
  }
}
