import type { Clock, TimerHandle } from '../support/clock.js';
import { withCauses } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import type { FunctionRecord } from '../state/records.js';
import { CronTimes } from './cron.js';
import type { Job, NewJob } from './job.js';
import type { JobStore, ScheduleState } from './job-store.js';

/** The longest single timer: a far fire is re-checked this often (timers past ~24.8 days overflow). */
const MAX_TIMER_MS = 60 * 60 * 1000;

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  store: JobStore;
  clock: Clock;
  log: Logger;
  /** The function as desired state has it now. */
  lookup: (name: string) => FunctionRecord | undefined;
  /** Every function, at start. */
  functions: () => FunctionRecord[];
  /** A fire's job is committed: dispatch it. */
  enqueued: (job: Job) => void;
  /** False when the function's queue is full: the fire is skipped. */
  hasRoom: (name: string) => boolean;
  newId: () => string;
}

/** `status.lastScheduleTime` / `nextScheduleTime` of `/info` (ISO), null without a schedule. */
export interface ScheduleStatus {
  lastScheduleTime: string | null;
  nextScheduleTime: string | null;
}

interface Armed {
  times: CronTimes;
  next: number | null;
  timer: TimerHandle | null;
}

/**
 * Fires `spec.schedule`: each fire enqueues an async job (`POST /`, the body
 * `spec.schedulePayload`, header `x-glambdar-schedule` with the fire time), so retries and the
 * dead-letter list apply. croner computes the times; the timers are the injected clock's. What
 * was fired is stored with the job in one transaction, so after downtime a fire missed less than
 * `startingDeadlineSeconds` ago is made once (the latest one), never a storm of them.
 * `concurrencyPolicy: Forbid` skips a fire while the previous scheduled job is queued or running,
 * and counts the skip.
 */
export class Scheduler {
  #o: SchedulerOptions;
  #armed = new Map<string, Armed>();
  #stopped = true;

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  /** Arms every function's schedule, catching up once where a fire was missed within the deadline. */
  start(): void {
    this.#stopped = false;
    for (const fn of this.#o.functions()) if (fn.spec.schedule !== null) this.sync(fn.name);
  }

  /** Follows a function's current spec: arms, re-arms or drops its schedule. Safe to call any time. */
  sync(name: string): void {
    if (this.#stopped) return;
    const fn = this.#o.lookup(name);
    const armed = this.#armed.get(name);
    if (!fn || fn.deleting || fn.spec.schedule === null) {
      if (armed) this.#disarm(name, armed);
      if (!fn || fn.spec.schedule === null) this.#o.store.deleteScheduleState(name);
      return;
    }
    const { schedule, timezone } = fn.spec;
    if (armed && armed.times.expression === schedule && armed.times.timezone === timezone) return;
    if (armed) this.#disarm(name, armed);
    const now = this.#o.clock.now();
    let state = this.#o.store.scheduleState(name);
    if (!state || state.expression !== schedule || state.timezone !== timezone) {
      state = { funcName: name, expression: schedule, timezone, since: now, lastScheduleTime: null, lastConsidered: null, skipped: 0, lastSkipTime: null };
      this.#o.store.recordFire(state, null, now);
    }
    const times = new CronTimes(schedule, timezone);
    const entry: Armed = { times, next: null, timer: null };
    this.#armed.set(name, entry);
    // Downtime (or a stalled process): the latest missed fire, if within the deadline, once.
    const missed = times.latest(now);
    const handled = Math.max(state.lastConsidered ?? -Infinity, state.since);
    if (missed !== null && missed > handled && now - missed <= fn.spec.startingDeadlineSeconds * 1000) {
      this.#o.log.info(`schedule of ${name}: catching up the fire of ${new Date(missed).toISOString()}`);
      this.#fire(name, missed);
    }
    this.#arm(name, entry, now);
  }

  /** What `/info` shows of a function's schedule. */
  status(name: string): ScheduleStatus {
    const armed = this.#armed.get(name);
    const state = armed ? this.#o.store.scheduleState(name) : undefined;
    const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
    return { lastScheduleTime: iso(state?.lastScheduleTime), nextScheduleTime: iso(armed?.next) };
  }

  stop(): void {
    this.#stopped = true;
    for (const [name, armed] of this.#armed) this.#disarm(name, armed);
  }

  #arm(name: string, entry: Armed, from: number): void {
    const next = entry.times.next(from);
    entry.next = next;
    if (next === null) return;
    this.#setTimer(name, entry, next);
  }

  #setTimer(name: string, entry: Armed, at: number): void {
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, at - this.#o.clock.now()));
    entry.timer = this.#o.clock.setTimeout(() => {
      entry.timer = null;
      if (this.#armed.get(name) !== entry) return;
      const now = this.#o.clock.now();
      // A far fire is waited for in steps of at most an hour.
      if (now < at && wait === MAX_TIMER_MS) return this.#setTimer(name, entry, at);
      this.#fire(name, at);
      // The next fire after this one, or after now when the process was late: never a storm.
      this.#arm(name, entry, Math.max(at, now));
    }, wait);
  }

  #disarm(name: string, armed: Armed): void {
    if (armed.timer) this.#o.clock.clearTimeout(armed.timer);
    this.#armed.delete(name);
  }

  #fire(name: string, at: number): void {
    const { store, clock, log } = this.#o;
    const fn = this.#o.lookup(name);
    const state = store.scheduleState(name);
    if (!fn || fn.deleting || !state || fn.spec.schedule === null) return;
    const when = new Date(at).toISOString();
    const next: ScheduleState = { ...state, lastConsidered: at };
    try {
      if (fn.spec.concurrencyPolicy === 'Forbid' && store.hasOpenScheduled(name)) {
        log.info(`schedule of ${name}: skipped the fire of ${when}: the previous run is still queued or running (concurrencyPolicy Forbid)`);
        store.recordFire({ ...next, skipped: state.skipped + 1, lastSkipTime: at }, null, clock.now());
        return;
      }
      if (!this.#o.hasRoom(name)) {
        log.warn(`schedule of ${name}: skipped the fire of ${when}: its job queue is full`);
        store.recordFire({ ...next, skipped: state.skipped + 1, lastSkipTime: at }, null, clock.now());
        return;
      }
      const job: NewJob = {
        requestId: this.#o.newId(),
        funcName: name,
        request: { method: 'POST', path: '/', query: {}, headers: { 'content-type': 'application/json' } },
        body: Buffer.from(JSON.stringify(fn.spec.schedulePayload)),
        callbackUrl: null,
        scheduledAt: at,
      };
      const stored = store.recordFire({ ...next, lastScheduleTime: at }, job, clock.now());
      if (stored) this.#o.enqueued(stored);
    } catch (err) {
      log.error(`schedule of ${name}: the fire of ${when} could not be stored: ${withCauses(err)}`);
    }
  }
}
