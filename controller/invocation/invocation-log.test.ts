import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { FakeClock } from '../support/clock.js';
import { InvocationLog } from './invocation-log.js';
import { silentLogger } from '../support/logger.js';
import { SqliteStore } from '../state/sqlite-store.js';
import type { InvocationRecord } from '../state/records.js';

let store: SqliteStore;
let clock: FakeClock;

function record(n: number, funcName = 'hello'): InvocationRecord {
  return { requestId: `r${n}`, funcName, revision: 1, invokedAt: clock.now(), durationMs: 1, statusCode: 200, coldStart: false, stdout: '', stderr: '', error: null, bytesSent: 2, ttfbMs: null };
}

beforeEach(() => {
  clock = new FakeClock(1_000_000);
  store = new SqliteStore(':memory:');
  for (const name of ['hello', 'other']) {
    store.apply({ name, spec: FunctionSpec.parse({}), codeDigest: 'd', source: 'api', manifestPath: null }, clock.now());
  }
});

afterEach(() => store.close());

describe('InvocationLog', () => {
  it('writes nothing on the hot path, then a batch once the flush interval passes', () => {
    const log = new InvocationLog({ store, clock, log: silentLogger, flushIntervalMs: 50 });
    for (let i = 0; i < 3; i++) log.record(record(i));
    expect(store.logs('hello', { limit: 10 })).toEqual([]);
    expect(log.pending).toBe(3);
    clock.advance(50);
    expect(store.logs('hello', { limit: 10 }).map((l) => l.requestId)).toEqual(['r2', 'r1', 'r0']);
    expect(store.get('hello')?.invokeCount).toBe(3);
  });

  it('writes at once when a batch is full, and flush() empties the buffer', () => {
    const log = new InvocationLog({ store, clock, log: silentLogger, maxBatch: 2 });
    log.record(record(1));
    log.record(record(2));
    expect(store.logs('hello', { limit: 10 })).toHaveLength(2);
    log.record(record(3));
    log.flush();
    expect(log.pending).toBe(0);
    expect(store.logs('hello', { limit: 10 })).toHaveLength(3);
  });

  it('keeps only the newest records of each function, trimming at most once per interval', () => {
    const log = new InvocationLog({ store, clock, log: silentLogger, retention: 5, trimIntervalMs: 1000 });
    for (let i = 0; i < 8; i++) log.record(record(i));
    log.record(record(0, 'other'));
    log.flush();
    expect(store.logs('hello', { limit: 100 }).map((l) => l.requestId)).toEqual(['r7', 'r6', 'r5', 'r4', 'r3']);
    // Within the interval, more records are written but not trimmed yet.
    for (let i = 8; i < 10; i++) log.record(record(i));
    log.flush();
    expect(store.logs('hello', { limit: 100 })).toHaveLength(7);
    clock.advance(1000);
    log.record(record(10));
    log.flush();
    expect(store.logs('hello', { limit: 100 }).map((l) => l.requestId)).toEqual(['r10', 'r9', 'r8', 'r7', 'r6']);
    expect(store.logs('other', { limit: 100 })).toHaveLength(1);
    // Trimming never touches the counters.
    expect(store.get('hello')?.invokeCount).toBe(11);
  });
});
