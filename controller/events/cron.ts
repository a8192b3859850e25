import { Cron } from 'croner';
import type { FunctionSpec } from '../../schemas/index.js';
import { InvalidInput } from '../support/errors.js';

/**
 * A schedule's fire times, computed by croner (5 fields, or 6 with seconds first, in an IANA
 * zone). croner is given no callback, so it owns no timer: the scheduler asks it for times and
 * keeps its own, on the injected clock.
 */
export class CronTimes {
  readonly expression: string;
  readonly timezone: string;
  #cron: Cron;

  constructor(expression: string, timezone: string) {
    this.expression = expression;
    this.timezone = timezone;
    this.#cron = new Cron(expression, { timezone, mode: '5-or-6-parts' });
  }

  /** The first fire strictly after `after` (ms), or null if it never fires again. */
  next(after: number): number | null {
    return this.#cron.nextRun(new Date(after))?.getTime() ?? null;
  }

  /** The latest fire at or before `at` (ms), or null. */
  latest(at: number): number | null {
    return this.#cron.previousRuns(1, new Date(at))[0]?.getTime() ?? null;
  }
}

/**
 * Refuses a spec whose schedule croner cannot read or that never fires, naming the field: the
 * grammar check zod (schemas/) cannot make.
 */
export function checkSchedule(spec: FunctionSpec): void {
  if (spec.schedule === null) return;
  let times: CronTimes;
  try {
    times = new CronTimes(spec.schedule, spec.timezone);
  } catch (err) {
    throw new InvalidInput(`invalid spec: schedule: not a valid cron expression: ${(err as Error).message}`);
  }
  if (times.next(Date.now()) === null) throw new InvalidInput(`invalid spec: schedule: "${spec.schedule}" never fires`);
}
