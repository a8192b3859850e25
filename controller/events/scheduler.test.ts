import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { silentLogger } from '../support/logger.js';
import type { FunctionRecord } from '../state/records.js';
import type { Job } from './job.js';
import { Scheduler } from './scheduler.js';
import { SqliteJobStore } from './sqlite-job-store.js';
import { functionRecord } from './testing.js';

/** 2030-01-01T00:00:00.500Z: half a second past a whole second, as a real clock would be. */
const START = Date.UTC(2030, 0, 1) + 500;

let clock: FakeClock;
let store: SqliteJobStore;
let functions: Map<string, FunctionRecord>;
let enqueued: Job[];
let room: boolean;
const schedulers: Scheduler[] = [];
let ids = 0;

function scheduler(): Scheduler {
  const s = new Scheduler({
    store,
    clock,
    log: silentLogger,
    lookup: (name) => functions.get(name),
    functions: () => [...functions.values()],
    enqueued: (job) => enqueued.push(job),
    hasRoom: () => room,
    newId: () => `fire-${++ids}`,
  });
  schedulers.push(s);
  s.start();
  return s;
}

const fireTimes = () => enqueued.map((j) => new Date(j.scheduledAt!).toISOString());

beforeEach(() => {
  clock = new FakeClock(START);
  store = new SqliteJobStore(':memory:');
  functions = new Map();
  enqueued = [];
  room = true;
});

afterEach(() => {
  for (const s of schedulers.splice(0)) s.stop();
  store.close();
});

describe('Scheduler', () => {
  it('fires "*/2 * * * * *" 5 times in 10 s, each a POST / job with the payload and its fire time', () => {
    functions.set('tick', functionRecord('tick', { schedule: '*/2 * * * * *', schedulePayload: { hello: 'cron' } }));
    const s = scheduler();
    expect(s.status('tick')).toEqual({ lastScheduleTime: null, nextScheduleTime: '2030-01-01T00:00:02.000Z' });
    clock.advance(10_000);
    expect(fireTimes()).toEqual(['2030-01-01T00:00:02.000Z', '2030-01-01T00:00:04.000Z', '2030-01-01T00:00:06.000Z', '2030-01-01T00:00:08.000Z', '2030-01-01T00:00:10.000Z']);
    const job = enqueued[0]!;
    expect(job.request).toEqual({ method: 'POST', path: '/', query: {}, headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(job.body.toString())).toEqual({ hello: 'cron' });
    expect(s.status('tick')).toEqual({ lastScheduleTime: '2030-01-01T00:00:10.000Z', nextScheduleTime: '2030-01-01T00:00:12.000Z' });
  });

  it('reads the expression in the function\'s time zone', () => {
    functions.set('paris', functionRecord('paris', { schedule: '0 9 * * *', timezone: 'Europe/Paris' }));
    expect(scheduler().status('paris').nextScheduleTime).toBe('2030-01-01T08:00:00.000Z');
  });

  it('with Forbid, skips a fire while the previous run is queued or running, and records the skip', () => {
    functions.set('slow', functionRecord('slow', { schedule: '*/2 * * * * *', concurrencyPolicy: 'Forbid' }));
    scheduler();
    clock.advance(2000);
    expect(enqueued).toHaveLength(1);
    // The run is in flight (claimed, never finished) through the next two fires.
    store.claim('slow', clock.now(), 1);
    clock.advance(4000);
    expect(enqueued).toHaveLength(1);
    expect(store.scheduleState('slow')).toMatchObject({ skipped: 2, lastSkipTime: Date.UTC(2030, 0, 1, 0, 0, 6), lastScheduleTime: Date.UTC(2030, 0, 1, 0, 0, 2) });
    store.finish(enqueued[0]!.requestId, { kind: 'succeeded', at: clock.now(), statusCode: 200, response: { headers: {}, body: '', encoding: 'utf8', size: 0, truncated: false }, entry: { attempt: 1, startedAt: 0, finishedAt: 0, statusCode: 200, error: null } });
    clock.advance(2000);
    expect(fireTimes()).toEqual(['2030-01-01T00:00:02.000Z', '2030-01-01T00:00:08.000Z']);
  });

  it('with Allow, fires while the previous run is still in flight', () => {
    functions.set('many', functionRecord('many', { schedule: '*/2 * * * * *' }));
    scheduler();
    clock.advance(6000);
    expect(enqueued).toHaveLength(3);
  });

  it('after a restart that missed fires, makes exactly one catch-up fire (the latest), then keeps time', () => {
    functions.set('job', functionRecord('job', { schedule: '* * * * *' }));
    const first = scheduler();
    clock.advance(60_000);
    expect(fireTimes()).toEqual(['2030-01-01T00:01:00.000Z']);
    first.stop();
    // Down for 3.5 minutes: the fires of 00:02, 00:03 and 00:04 are missed.
    clock.advance(210_000);
    expect(enqueued).toHaveLength(1);
    const second = scheduler();
    expect(fireTimes()).toEqual(['2030-01-01T00:01:00.000Z', '2030-01-01T00:04:00.000Z']);
    expect(second.status('job').nextScheduleTime).toBe('2030-01-01T00:05:00.000Z');
    clock.advance(30_000);
    expect(fireTimes()).toHaveLength(3);
    // A second restart right away finds nothing missed.
    second.stop();
    scheduler();
    expect(fireTimes()).toHaveLength(3);
  });

  it('makes no catch-up fire for a fire missed longer ago than startingDeadlineSeconds, nor for one before the schedule was set', () => {
    functions.set('late', functionRecord('late', { schedule: '0 * * * *', startingDeadlineSeconds: 60 }));
    const first = scheduler();
    // Set at 00:00:00.5; the fire of 00:00 came before it.
    expect(enqueued).toEqual([]);
    first.stop();
    clock.advance(3_630_000); // now 01:00:30.5: the missed fire of 01:00 is 30 s old, within 60 s
    scheduler().stop();
    expect(fireTimes()).toEqual(['2030-01-01T01:00:00.000Z']);
    clock.advance(3_640_000); // 02:01:10.5: the missed fire of 02:00 is 70 s old
    scheduler();
    expect(fireTimes()).toEqual(['2030-01-01T01:00:00.000Z']);
  });

  it('follows spec changes: a new expression re-arms, no schedule stops firing', () => {
    functions.set('fn', functionRecord('fn', { schedule: '*/2 * * * * *' }));
    const s = scheduler();
    functions.set('fn', functionRecord('fn', { schedule: '*/5 * * * * *' }));
    s.sync('fn');
    clock.advance(10_000);
    expect(fireTimes()).toEqual(['2030-01-01T00:00:05.000Z', '2030-01-01T00:00:10.000Z']);
    functions.set('fn', functionRecord('fn'));
    s.sync('fn');
    clock.advance(10_000);
    expect(enqueued).toHaveLength(2);
    expect(s.status('fn')).toEqual({ lastScheduleTime: null, nextScheduleTime: null });
    expect(store.scheduleState('fn')).toBeUndefined();
  });

  it('skips a fire when the function\'s job queue is full', () => {
    functions.set('full', functionRecord('full', { schedule: '*/2 * * * * *' }));
    room = false;
    scheduler();
    clock.advance(2000);
    expect(enqueued).toEqual([]);
    expect(store.scheduleState('full')?.skipped).toBe(1);
  });
});
