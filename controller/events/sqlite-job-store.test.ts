import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteJobStore } from './sqlite-job-store.js';
import { newJob } from './testing.js';

let store: SqliteJobStore;

beforeEach(() => {
  store = new SqliteJobStore(':memory:');
});

afterEach(() => store.close());

const entry = (attempt: number, at: number) => ({ attempt, startedAt: at, finishedAt: at, statusCode: 500, error: 'boom' });

describe('SqliteJobStore', () => {
  it('stores a job with the request as it came, queued and due now', () => {
    const job = store.enqueue(newJob('fn', { callbackUrl: 'http://127.0.0.1:9/cb' }), 1000);
    expect(job).toMatchObject({
      funcName: 'fn',
      status: 'queued',
      attempts: 0,
      createdAt: 1000,
      nextAttemptAt: 1000,
      request: { method: 'POST', path: '/path', query: { q: '1' }, headers: { 'x-user': 'u' } },
      callback: { url: 'http://127.0.0.1:9/cb', state: 'pending', attempts: 0 },
      history: [],
    });
    expect(JSON.parse(job.body.toString())).toHaveProperty('n');
    expect(store.get(job.requestId)?.seq).toBe(job.seq);
  });

  it('claims due jobs oldest first, at most the limit, counting the attempt; others wait for their time', () => {
    const a = store.enqueue(newJob('fn'), 1000);
    const b = store.enqueue(newJob('fn'), 1001);
    const c = store.enqueue(newJob('fn'), 1002);
    store.enqueue(newJob('other'), 1000);
    const claimed = store.claim('fn', 1001, 2);
    expect(claimed.map((j) => j.requestId)).toEqual([a.requestId, b.requestId]);
    expect(claimed.map((j) => [j.status, j.attempts, j.startedAt])).toEqual([
      ['running', 1, 1001],
      ['running', 1, 1001],
    ]);
    // c is not due until 1002.
    expect(store.claim('fn', 1001, 5)).toEqual([]);
    expect(store.nextDueAt('fn')).toBe(1002);
    expect(store.claim('fn', 1002, 5).map((j) => j.requestId)).toEqual([c.requestId]);
    expect(store.nextDueAt('fn')).toBeNull();
  });

  it('records a retry with its due time and the try in the history, then success with the response', () => {
    const job = store.enqueue(newJob('fn'), 0);
    store.claim('fn', 0, 1);
    store.finish(job.requestId, { kind: 'retry', at: 10, nextAttemptAt: 1010, statusCode: 500, response: null, error: 'boom', entry: entry(1, 10) });
    expect(store.get(job.requestId)).toMatchObject({ status: 'queued', attempts: 1, nextAttemptAt: 1010, error: 'boom', finishedAt: null });
    expect(store.claim('fn', 1009, 1)).toEqual([]);
    expect(store.claim('fn', 1010, 1)[0]?.attempts).toBe(2);
    const response = { headers: { a: 'b' }, body: 'ok', encoding: 'utf8' as const, size: 2, truncated: false };
    store.finish(job.requestId, { kind: 'succeeded', at: 1020, statusCode: 200, response, entry: { ...entry(2, 1010), statusCode: 200, error: null } });
    expect(store.get(job.requestId)).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      finishedAt: 1020,
      statusCode: 200,
      response,
      error: null,
      history: [{ attempt: 1, statusCode: 500 }, { attempt: 2, statusCode: 200 }],
    });
  });

  it('queues jobs a stopped runtime left running again, their attempt counted', () => {
    const job = store.enqueue(newJob('fn'), 0);
    store.claim('fn', 0, 1);
    expect(store.recoverInterrupted(500, () => false)).toEqual({ requeued: 1, ended: 0 });
    expect(store.get(job.requestId)).toMatchObject({ status: 'queued', attempts: 1, nextAttemptAt: 500 });
    expect(store.claim('fn', 500, 1)[0]?.attempts).toBe(2);
  });

  it('ends dead the interrupted jobs whose try was their last, with their callback due', () => {
    const last = store.enqueue(newJob('fn', { callbackUrl: 'http://x/' }), 0);
    const other = store.enqueue(newJob('fn'), 0);
    store.claim('fn', 0, 2);
    expect(store.recoverInterrupted(500, (job) => job.requestId === last.requestId)).toEqual({ requeued: 1, ended: 1 });
    expect(store.get(last.requestId)).toMatchObject({ status: 'dead', attempts: 1, finishedAt: 500, error: expect.stringContaining('last try') });
    expect(store.get(other.requestId)).toMatchObject({ status: 'queued', attempts: 1 });
    expect(store.pendingCallbacks().map((j) => j.requestId)).toEqual([last.requestId]);
  });

  it('ends a gone function\'s queued jobs dead with the reason, and requeues a dead job for a new round', () => {
    const job = store.enqueue(newJob('fn', { callbackUrl: 'http://x/' }), 0);
    expect(store.killQueued('fn', 'function "fn" was deleted', 5)).toBe(1);
    expect(store.get(job.requestId)).toMatchObject({ status: 'dead', error: 'function "fn" was deleted', finishedAt: 5 });
    expect(store.pendingCallbacks().map((j) => j.requestId)).toEqual([job.requestId]);
    const again = store.requeue(job.requestId, 9);
    expect(again).toMatchObject({ status: 'queued', attempts: 0, nextAttemptAt: 9, error: null, finishedAt: null, callback: { state: 'pending', attempts: 0 } });
    expect(store.pendingCallbacks()).toEqual([]);
    expect(store.requeue(job.requestId, 10)).toBeUndefined();
  });

  it('lists newest first by function and status, and counts open jobs per function', () => {
    const a = store.enqueue(newJob('fn'), 0);
    const b = store.enqueue(newJob('fn'), 1);
    const c = store.enqueue(newJob('other'), 2);
    store.killQueued('other', 'gone', 3);
    expect(store.list({ limit: 10 }).map((j) => j.requestId)).toEqual([c.requestId, b.requestId, a.requestId]);
    expect(store.list({ funcName: 'fn', limit: 1 }).map((j) => j.requestId)).toEqual([b.requestId]);
    expect(store.list({ status: 'dead', limit: 10 }).map((j) => j.requestId)).toEqual([c.requestId]);
    expect(store.list({ funcName: 'fn', status: 'dead', limit: 10 })).toEqual([]);
    store.claim('fn', 5, 1);
    expect(store.counts()).toEqual([
      { funcName: 'fn', queued: 1, running: 1, dead: 0, oldestOpenAt: 0 },
      { funcName: 'other', queued: 0, running: 0, dead: 1, oldestOpenAt: null },
    ]);
    expect(store.openCounts()).toEqual(new Map([['fn', 2], ['other', 1]]));
  });

  it('trims succeeded jobs past their retention or past the per-function bound, never dead ones', () => {
    const done = (at: number) => {
      const job = store.enqueue(newJob('fn'), at);
      store.claim('fn', at, 1);
      store.finish(job.requestId, { kind: 'succeeded', at, statusCode: 200, response: { headers: {}, body: '', encoding: 'utf8', size: 0, truncated: false }, entry: { ...entry(1, at), statusCode: 200, error: null } });
      return job;
    };
    const old = done(100);
    const dead = store.enqueue(newJob('fn'), 150);
    store.killQueued('fn', 'gone', 150);
    const recent = [done(200), done(300), done(400)];
    // Older than 150 goes; then the function keeps 3 jobs in all: the dead one and the 2 newest.
    expect(store.trimSucceeded(150, 3)).toBe(2);
    expect(store.get(old.requestId)).toBeUndefined();
    expect(store.get(recent[0]!.requestId)).toBeUndefined();
    expect(store.get(dead.requestId)?.status).toBe('dead');
    expect(store.list({ limit: 10 })).toHaveLength(3);
  });

  it('keeps a schedule\'s state with the job a fire made, in one write', () => {
    const state = { funcName: 'fn', expression: '* * * * *', timezone: 'UTC', since: 0, lastScheduleTime: 60_000, lastConsidered: 60_000, skipped: 0, lastSkipTime: null };
    const job = store.recordFire(state, newJob('fn', { scheduledAt: 60_000 }), 60_001);
    expect(job).toMatchObject({ scheduledAt: 60_000, status: 'queued' });
    expect(store.scheduleState('fn')).toEqual(state);
    expect(store.hasOpenScheduled('fn')).toBe(true);
    store.deleteScheduleState('fn');
    expect(store.scheduleState('fn')).toBeUndefined();
  });
});
