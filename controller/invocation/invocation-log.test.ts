import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { FakeClock } from '../support/clock.js';
import { InvocationLog, RECORD_HANDOVER_MS } from './invocation-log.js';
import { createLogger, silentLogger } from '../support/logger.js';
import { RecordDrops } from './record-drops.js';
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

  it(`hands every record to the writer within ${RECORD_HANDOVER_MS} ms by default, the window a kill -9 can lose`, () => {
    expect(RECORD_HANDOVER_MS).toBe(25);
    const log = new InvocationLog({ store, clock, log: silentLogger });
    log.record(record(1));
    clock.advance(RECORD_HANDOVER_MS - 1);
    expect(store.logs('hello', { limit: 10 })).toEqual([]);
    clock.advance(1);
    expect(store.logs('hello', { limit: 10 }).map((l) => l.requestId)).toEqual(['r1']);
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

  it('holds at most retention plus a tenth under steady traffic, and exactly retention once traffic stops', () => {
    const log = new InvocationLog({ store, clock, log: silentLogger, retention: 1000 });
    const count = () => store.logs('hello', { limit: 100_000 }).length;
    let most = 0;
    // 19,000 records at 1,000 a second, as a busy function makes them.
    for (let i = 0; i < 19_000; i++) {
      log.record(record(i));
      if (i % 10 === 9) clock.advance(10);
      if (i % 100 === 99) most = Math.max(most, count());
    }
    log.record(record(0, 'other'));
    log.flush();
    expect(most).toBeLessThanOrEqual(1100);
    expect(count()).toBeLessThanOrEqual(1100);
    // Traffic stopped: one more trim, a second later.
    clock.advance(1000);
    expect(store.logs('hello', { limit: 100_000 }).map((l) => l.requestId).slice(0, 2)).toEqual(['r18999', 'r18998']);
    expect(count()).toBe(1000);
    expect(store.logs('other', { limit: 100 })).toHaveLength(1);
    // Trimming never touches the counters.
    expect(store.get('hello')?.invokeCount).toBe(19_000);
  });

  it('drops records instead of writing them while the data disk is under its reserve, counts them, and logs once per 10 s', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (line) => lines.push(line));
    const drops = new RecordDrops({ clock, log: logger });
    let low = true;
    const space = { low: () => low, freeBytes: () => 3 * 1024 * 1024, reserveMb: 64 };
    const log = new InvocationLog({ store, clock, log: logger, space, drops });
    for (let i = 0; i < 5; i++) log.record(record(i));
    clock.advance(RECORD_HANDOVER_MS);
    for (let i = 5; i < 8; i++) log.record(record(i));
    clock.advance(RECORD_HANDOVER_MS);
    expect(store.logs('hello', { limit: 10 })).toEqual([]);
    expect(drops.total).toBe(8);
    expect(lines.filter((l) => l.includes('dropping invocation records'))).toHaveLength(1);
    expect(lines[0]).toMatch(/dropping invocation records \(5 now\): the data disk has 3 MiB free, under GLAMBDAR_DISK_RESERVE_MB=64/);
    clock.advance(10_000);
    expect(lines.filter((l) => l.includes('dropped 3 invocation records in the last 10 s'))).toHaveLength(1);
    low = false;
    log.record(record(9));
    clock.advance(RECORD_HANDOVER_MS);
    expect(store.logs('hello', { limit: 10 }).map((l) => l.requestId)).toEqual(['r9']);
    drops.close();
  });
});
