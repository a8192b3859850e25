import type { CallbackState, Job, JobCounts, JobFinish, JobStatus, NewJob } from './job.js';

/** A schedule's memory across restarts: what it fired last, so a restart neither storms nor forgets. */
export interface ScheduleState {
  funcName: string;
  /** The expression and zone this state is for; a changed schedule starts afresh. */
  expression: string;
  timezone: string;
  /** When this schedule was set: nothing before it is ever caught up. */
  since: number;
  /** The fire time of the last job it enqueued. */
  lastScheduleTime: number | null;
  /** The latest fire time handled, enqueued or skipped. */
  lastConsidered: number | null;
  /** Fires skipped under `concurrencyPolicy: Forbid`. */
  skipped: number;
  lastSkipTime: number | null;
}

/**
 * The port to durable async jobs. Every method commits before it returns: a job the caller was
 * told about survives a kill -9. The SQLite adapter (sqlite-job-store.ts) is the one
 * implementation; tests use it on `:memory:`.
 */
export interface JobStore {
  /** Stores a new queued job, due now. */
  enqueue(job: NewJob, now: number): Job;
  get(requestId: string): Job | undefined;
  /** Newest first. */
  list(filter: { funcName?: string; status?: JobStatus; limit: number }): Job[];
  /**
   * Takes up to `limit` due queued jobs of a function (due soonest, then oldest first) and marks
   * them running with their attempt counted, in one statement.
   */
  claim(funcName: string, now: number, limit: number): Job[];
  /** Records how a running job's try ended. */
  finish(requestId: string, finish: JobFinish): void;
  /** When the function's next queued job is due, or null when none is queued. */
  nextDueAt(funcName: string): number | null;
  /**
   * After a restart: jobs left running were cut short, their try counted. Those for which
   * `wasLast` says that try was their last end dead; the others are queued again, due now.
   */
  recoverInterrupted(now: number, wasLast: (job: Job) => boolean): { requeued: number; ended: number };
  /** Functions with queued jobs. */
  functionsWithQueued(): string[];
  /** Ends every queued job of a function as dead (its function is gone). Returns how many. */
  killQueued(funcName: string, reason: string, now: number): number;
  /** Queues a dead job again for a new round of tries; undefined when it is not dead. */
  requeue(requestId: string, now: number): Job | undefined;
  /** True when a job a schedule made for this function is queued or running. */
  hasOpenScheduled(funcName: string): boolean;
  /** Jobs per function that are not succeeded (queued, running, dead): what GLAMBDAR_MAX_JOBS bounds. */
  openCounts(): Map<string, number>;
  /** Per function: queued, running and dead jobs, and the oldest open one. */
  counts(): JobCounts[];
  /**
   * Deletes succeeded jobs finished before `before`, and the oldest succeeded ones of a function
   * past `keepPerFunction` jobs in all. Dead jobs are never deleted here. Returns how many went.
   */
  trimSucceeded(before: number, keepPerFunction: number): number;
  setCallback(requestId: string, callback: CallbackState): void;
  /** Finished jobs whose callback is not delivered yet (after a restart: deliver them). */
  pendingCallbacks(): Job[];
  scheduleState(funcName: string): ScheduleState | undefined;
  /** Stores a schedule's state and, in the same transaction, the job a fire made (if any). */
  recordFire(state: ScheduleState, job: NewJob | null, now: number): Job | null;
  deleteScheduleState(funcName: string): void;
  close(): void;
}
