import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { ContainerDied, FunctionNotFound, type GlambdarError } from '../support/errors.js';
import { silentLogger } from '../support/logger.js';
import type { InvokeOptions, InvokeOutcome } from '../invocation/invoker.js';
import type { InvokeRequest } from '../pool/worker-client.js';
import type { FunctionRecord } from '../state/records.js';
import { Dispatcher } from './dispatcher.js';
import type { Job } from './job.js';
import { SqliteJobStore } from './sqlite-job-store.js';
import { ResponseStream } from '../pool/response-stream.js';
import { MAX_KEPT_BODY_BYTES } from './response-capture.js';
import { functionRecord, newJob } from './testing.js';

interface Call {
  name: string;
  request: InvokeRequest;
  body: Buffer;
  options: InvokeOptions;
  answer(statusCode: number, body?: string | Buffer): void;
  /** Answers with a streamed response: its head now, its body on `stream`. */
  answerStream?(stream: ResponseStream): void;
  fail(err: Error): void;
}

let clock: FakeClock;
let store: SqliteJobStore;
let functions: Map<string, FunctionRecord>;
let calls: Call[];
let finished: Job[];
let dispatcher: Dispatcher;

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** The dispatcher of a runtime started again on the same job store, invoking with `invoke`. */
function afterRestart(invoke: ConstructorParameters<typeof Dispatcher>[0]['invoke']): Dispatcher {
  return new Dispatcher({ store, clock, log: silentLogger, lookup: (name) => functions.get(name), statusOf: () => 500, invoke });
}

beforeEach(() => {
  clock = new FakeClock(1_000_000);
  store = new SqliteJobStore(':memory:');
  functions = new Map();
  calls = [];
  finished = [];
  dispatcher = new Dispatcher({
    store,
    clock,
    log: silentLogger,
    random: () => 0.5,
    lookup: (name) => functions.get(name),
    statusOf: (err: GlambdarError) => ({ CONTAINER_DIED: 502, FUNCTION_NOT_FOUND: 404 })[err.code] ?? 500,
    invoke: (name, request, body, options) =>
      new Promise<InvokeOutcome>((resolve, reject) => {
        calls.push({
          name,
          request,
          body,
          options,
          answer: (statusCode, text: string | Buffer = 'ok') =>
            resolve({ requestId: options.requestId!, statusCode, headers: { 'x-a': '1' }, body: Buffer.from(text), coldStart: false, rate: { ok: true, limit: 0, remaining: 0, retryAfterMs: 0, resetMs: 0 }, revision: 1 }),
          answerStream: (stream) =>
            resolve({ requestId: options.requestId!, statusCode: stream.statusCode, headers: stream.headers, body: Buffer.alloc(0), coldStart: false, rate: { ok: true, limit: 0, remaining: 0, retryAfterMs: 0, resetMs: 0 }, revision: 1, stream }),
          fail: reject,
        });
      }),
    onFinished: (_job, _status, read) => finished.push(read()!),
  });
  dispatcher.start();
});

afterEach(async () => {
  // Tries a test left unanswered: stop waits out its grace on the fake clock.
  const stopping = dispatcher.stop();
  clock.advance(10_000);
  await stopping;
  store.close();
});

function enqueue(name: string, count = 1): Job[] {
  const jobs = Array.from({ length: count }, () => store.enqueue(newJob(name), clock.now()));
  dispatcher.kick(name);
  return jobs;
}

const noControl = { credit: () => undefined, cancel: () => undefined };

describe('Dispatcher and streamed responses', () => {
  it('reads a streamed answer to its end and keeps its start and full size', async () => {
    functions.set('fn', functionRecord('fn'));
    const [job] = enqueue('fn');
    const stream = new ResponseStream(1, 200, { 'content-type': 'text/plain' }, noControl);
    calls[0]!.answerStream!(stream);
    await flush();
    stream.push(Buffer.from('x'.repeat(200 * 1024)));
    stream.push(Buffer.from('y'.repeat(100 * 1024)));
    stream.finish({ error: null, stdout: '', stderr: '', durationMs: 1 });
    await flush();
    const done = store.get(job!.requestId)!;
    expect(done).toMatchObject({ status: 'succeeded', statusCode: 200, response: { size: 300 * 1024, truncated: true } });
    expect(done.response!.body.length).toBe(MAX_KEPT_BODY_BYTES);
  });

  it('counts a stream that broke off as a failed try', async () => {
    functions.set('fn', functionRecord('fn', { retry: { attempts: 1, backoffMs: 1000, maxBackoffMs: 1000 } }));
    const [job] = enqueue('fn');
    const stream = new ResponseStream(1, 200, {}, noControl);
    calls[0]!.answerStream!(stream);
    await flush();
    stream.push(Buffer.from('part'));
    stream.finish({ error: 'boom', stdout: '', stderr: '', durationMs: 1 });
    await flush();
    expect(store.get(job!.requestId)).toMatchObject({ status: 'dead', statusCode: 500 });
  });
});

describe('Dispatcher', () => {
  it('runs a job through invoke with the request as it came, its request id and attempt headers', async () => {
    functions.set('fn', functionRecord('fn'));
    const [job] = enqueue('fn');
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.options).toEqual({ requestId: job!.requestId, waitForRate: true });
    expect(call.request).toEqual({
      method: 'POST',
      path: '/path',
      query: { q: '1' },
      headers: { 'content-type': 'application/json', 'x-user': 'u', 'x-glambdar-attempt': '1', 'x-glambdar-request-id': job!.requestId },
    });
    expect(call.body.equals(job!.body)).toBe(true);
    call.answer(201, 'made');
    await flush();
    expect(store.get(job!.requestId)).toMatchObject({ status: 'succeeded', attempts: 1, statusCode: 201, response: { body: 'made', headers: { 'x-a': '1' } } });
    expect(finished.map((j) => j.status)).toEqual(['succeeded']);
  });

  it('runs at most asyncConcurrency jobs of a function at once, oldest first, and the next as one ends', async () => {
    functions.set('fn', functionRecord('fn', { asyncConcurrency: 2 }));
    const jobs = enqueue('fn', 5);
    expect(calls.map((c) => c.options.requestId)).toEqual([jobs[0]!.requestId, jobs[1]!.requestId]);
    calls[0]!.answer(200);
    await flush();
    expect(calls.map((c) => c.options.requestId)).toEqual(jobs.slice(0, 3).map((j) => j.requestId));
    expect(store.list({ funcName: 'fn', status: 'running', limit: 10 })).toHaveLength(2);
  });

  it('retries a thrown error, a 429 and a 5xx with growing back-off, and ends dead after the last attempt', async () => {
    functions.set('fn', functionRecord('fn', { retry: { attempts: 4, backoffMs: 1000, maxBackoffMs: 60_000 } }));
    const [job] = enqueue('fn');
    calls[0]!.fail(new ContainerDied('the function container exited'));
    await flush();
    // random 0.5: three quarters of 1000 * 2^(n-1).
    expect(store.get(job!.requestId)).toMatchObject({ status: 'queued', attempts: 1, nextAttemptAt: clock.now() + 750, statusCode: 502 });
    clock.advance(749);
    expect(calls).toHaveLength(1);
    clock.advance(1);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.request.headers['x-glambdar-attempt']).toBe('2');
    calls[1]!.answer(429);
    await flush();
    clock.advance(1500);
    expect(calls).toHaveLength(3);
    calls[2]!.answer(503);
    await flush();
    clock.advance(3000);
    expect(calls).toHaveLength(4);
    calls[3]!.answer(500, 'still broken');
    await flush();
    const dead = store.get(job!.requestId)!;
    expect(dead).toMatchObject({ status: 'dead', attempts: 4, statusCode: 500, error: 'the handler answered 500 (after 4 of 4 attempts)', response: { body: 'still broken' } });
    const gaps = dead.history.slice(1).map((h, i) => h.startedAt - dead.history[i]!.finishedAt);
    expect(gaps).toEqual([750, 1500, 3000]);
    expect(finished.map((j) => j.status)).toEqual(['dead']);
    expect(dispatcher.attempts().get('fn')).toEqual({ succeeded: 0, retried: 3, dead: 1 });
  });

  it('does not retry an answer below 500 other than 429', async () => {
    functions.set('fn', functionRecord('fn'));
    const [job] = enqueue('fn');
    calls[0]!.answer(404, 'nope');
    await flush();
    expect(store.get(job!.requestId)).toMatchObject({ status: 'succeeded', statusCode: 404, attempts: 1 });
  });

  it('caps the back-off at maxBackoffMs', async () => {
    functions.set('fn', functionRecord('fn', { retry: { attempts: 3, backoffMs: 1000, maxBackoffMs: 1000 } }));
    const [job] = enqueue('fn');
    calls[0]!.answer(500);
    await flush();
    clock.advance(750);
    calls[1]!.answer(500);
    await flush();
    expect(store.get(job!.requestId)!.nextAttemptAt).toBe(clock.now() + 750);
  });

  it('ends the queued and running jobs of a deleted function dead, naming why', async () => {
    functions.set('fn', functionRecord('fn', { asyncConcurrency: 1 }));
    const [running, queued] = enqueue('fn', 2);
    functions.delete('fn');
    dispatcher.functionGone('fn');
    expect(store.get(queued!.requestId)).toMatchObject({ status: 'dead', error: 'function "fn" was deleted' });
    calls[0]!.fail(new FunctionNotFound('fn'));
    await flush();
    expect(store.get(running!.requestId)).toMatchObject({ status: 'dead', error: 'function "fn" was deleted', attempts: 1 });
    expect(calls).toHaveLength(1);
  });

  it('runs again, after a restart, a job that was running when the runtime stopped, its attempt counted', async () => {
    functions.set('fn', functionRecord('fn'));
    const [job] = enqueue('fn');
    // The runtime dies mid-try: nothing records its end.
    const restarted = afterRestart((_name, request, _body, options) => {
      calls.push({ name: 'fn', request, body: Buffer.alloc(0), options, answer: () => undefined, fail: () => undefined });
      return Promise.resolve({ requestId: options.requestId!, statusCode: 200, headers: {}, body: Buffer.from('again'), coldStart: false, rate: { ok: true, limit: 0, remaining: 0, retryAfterMs: 0, resetMs: 0 }, revision: 1 });
    });
    restarted.start();
    await flush();
    expect(calls[1]!.request.headers['x-glambdar-attempt']).toBe('2');
    expect(store.get(job!.requestId)).toMatchObject({ status: 'succeeded', attempts: 2 });
    await restarted.stop();
  });

  it('ends dead, after a restart, a job that was in its last try when the runtime stopped, and runs it no more', async () => {
    functions.set('fn', functionRecord('fn', { retry: { attempts: 2 } }));
    const [job] = enqueue('fn');
    calls[0]!.answer(500);
    await flush();
    clock.advance(60_000);
    dispatcher.kick('fn');
    await flush();
    expect(calls).toHaveLength(2);
    expect(store.get(job!.requestId)).toMatchObject({ status: 'running', attempts: 2 });
    // The runtime dies during try 2 of 2: nothing records its end.
    const restarted = afterRestart(() => Promise.reject(new Error('a third try must not start')));
    restarted.start();
    await flush();
    expect(calls).toHaveLength(2);
    expect(store.get(job!.requestId)).toMatchObject({ status: 'dead', attempts: 2, error: expect.stringContaining('last try (attempt 2)') });
    await restarted.stop();
  });

  it('starts no more tries than the governor grants, and looks again when it allows one', async () => {
    functions.set('fn', functionRecord('fn'));
    let allowance = 1;
    const paced = new Dispatcher({
      store,
      clock,
      log: silentLogger,
      lookup: (name) => functions.get(name),
      statusOf: () => 500,
      governor: {
        take: (wanted) => {
          const granted = Math.min(wanted, allowance);
          allowance -= granted;
          return { granted, retryAfterMs: granted < wanted ? 100 : 0 };
        },
      },
      invoke: (name, request, body, options) =>
        new Promise<InvokeOutcome>((resolve) => calls.push({ name, request, body, options, answer: () => resolve({ requestId: options.requestId!, statusCode: 200, headers: {}, body: Buffer.alloc(0), coldStart: false, rate: { ok: true, limit: 0, remaining: 0, retryAfterMs: 0, resetMs: 0 }, revision: 1 }), fail: () => undefined })),
    });
    await dispatcher.stop();
    paced.start();
    for (let i = 0; i < 3; i++) store.enqueue(newJob('fn'), clock.now());
    paced.kick('fn');
    expect(calls).toHaveLength(1);
    allowance = 2;
    clock.advance(100);
    expect(calls).toHaveLength(3);
    expect(paced.tries).toBe(3);
    for (const c of calls) c.answer(200);
    await flush();
    await paced.stop();
  });

  it('keeps the first 256 KiB of a large response with its size, and a binary one as base64', async () => {
    functions.set('fn', functionRecord('fn'));
    const [big, binary] = enqueue('fn', 2);
    calls[0]!.answer(200, 'x'.repeat(300 * 1024));
    calls[1]!.answer(200, Buffer.from([0xff, 0xfe, 0x00]));
    await flush();
    expect(store.get(big!.requestId)!.response).toMatchObject({ encoding: 'utf8', size: 300 * 1024, truncated: true });
    expect(store.get(big!.requestId)!.response!.body).toHaveLength(256 * 1024);
    expect(store.get(binary!.requestId)!.response).toMatchObject({ encoding: 'base64', body: '//4A', size: 3, truncated: false });
  });
});
