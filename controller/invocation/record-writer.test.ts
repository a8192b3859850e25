import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { FakeClock } from '../support/clock.js';
import { InvocationLog } from './invocation-log.js';
import { silentLogger, type Logger } from '../support/logger.js';
import { ThreadRecordWriter } from './record-writer.js';
import { SqliteStore } from '../state/sqlite-store.js';
import type { InvocationRecord } from '../state/records.js';

let dir: string;
let dbPath: string;
let store: SqliteStore;
const clock = new FakeClock(1_000_000);

function record(n: number, funcName = 'hello'): InvocationRecord {
  return { requestId: `r${n}`, funcName, revision: 1, invokedAt: clock.now() + n, durationMs: 1, statusCode: 200, coldStart: false, stdout: `out ${n}`, stderr: '', error: null, bytesSent: 2, ttfbMs: null };
}

function batch(from: number, to: number, funcName = 'hello'): InvocationRecord[] {
  return Array.from({ length: to - from }, (_, i) => record(from + i, funcName));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'glambdar-writer-'));
  dbPath = join(dir, 'glambdar.db');
  store = new SqliteStore(dbPath);
  for (const name of ['hello', 'other']) {
    store.apply({ name, spec: FunctionSpec.parse({}), codeDigest: 'd', source: 'api', manifestPath: null }, clock.now());
  }
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ThreadRecordWriter', () => {
  it('writes on its own thread; after sync the main connection reads every record and counter', async () => {
    const writer = new ThreadRecordWriter({ dbPath, store, log: silentLogger });
    for (let i = 0; i < 5; i++) writer.write({ records: batch(i * 100, i * 100 + 100), trim: [], keep: 10_000 });
    writer.sync();
    const logs = store.logs('hello', { limit: 1000 });
    expect(logs).toHaveLength(500);
    expect(logs[0]).toMatchObject({ requestId: 'r499', stdout: 'out 499', funcName: 'hello' });
    store.forget(['hello']);
    expect(store.get('hello')?.invokeCount).toBe(500);
    await writer.close();
  });

  it.runIf(process.platform === 'linux')('runs ten nice steps below the process, so its commits give way to requests', async () => {
    // /proc/self/task/<tid>/stat: the nice value is the line's 19th field, the 17th after the command.
    const niceOfThreads = () =>
      readdirSync('/proc/self/task').flatMap((tid) => {
        try {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
          return [Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])];
        } catch {
          return []; // a thread that ended meanwhile
        }
      });
    const expected = Math.min(19, getPriority() + 10);
    const before = niceOfThreads().filter((n) => n === expected).length;
    const writer = new ThreadRecordWriter({ dbPath, store, log: silentLogger });
    writer.write({ records: batch(0, 10), trim: [], keep: 10_000 });
    writer.sync();
    expect(store.logs('hello', { limit: 100 })).toHaveLength(10);
    expect(niceOfThreads().filter((n) => n === expected).length).toBe(before + 1);
    await writer.close();
    expect(niceOfThreads().filter((n) => n === expected).length).toBe(before);
  });

  it('trims each function it is told to, to the newest `keep` records', async () => {
    const writer = new ThreadRecordWriter({ dbPath, store, log: silentLogger });
    writer.write({ records: [...batch(0, 8), ...batch(0, 3, 'other')], trim: ['hello'], keep: 5 });
    writer.sync();
    expect(store.logs('hello', { limit: 100 }).map((l) => l.requestId)).toEqual(['r7', 'r6', 'r5', 'r4', 'r3']);
    expect(store.logs('other', { limit: 100 })).toHaveLength(3);
    await writer.close();
  });

  it('drops records of a function purged before they arrive, instead of orphaning them', async () => {
    const writer = new ThreadRecordWriter({ dbPath, store, log: silentLogger });
    store.purge('other');
    writer.write({ records: [...batch(0, 2), ...batch(0, 2, 'other')], trim: [], keep: 100 });
    writer.sync();
    expect(store.logs('hello', { limit: 10 })).toHaveLength(2);
    expect(store.logs('other', { limit: 10 })).toEqual([]);
    await writer.close();
  });

  it('on close, writes every batch handed over before ending the thread (no sync needed)', async () => {
    const writer = new ThreadRecordWriter({ dbPath, store, log: silentLogger });
    for (let i = 0; i < 20; i++) writer.write({ records: batch(i * 50, i * 50 + 50), trim: [], keep: 10_000 });
    await writer.close();
    const reopened = new SqliteStore(dbPath);
    expect(reopened.logs('hello', { limit: 5000 })).toHaveLength(1000);
    reopened.close();
  });

  it('when the thread cannot open the database, says so and writes on the calling thread', async () => {
    const errors: string[] = [];
    const log: Logger = { ...silentLogger, error: (m: string) => errors.push(m) };
    const writer = new ThreadRecordWriter({ dbPath: join(dir, 'missing', 'folder', 'x.db'), store, log });
    // sync returns as soon as the thread gives up, not after its timeout.
    const t0 = Date.now();
    writer.write({ records: batch(0, 1), trim: [], keep: 100 });
    writer.sync();
    expect(Date.now() - t0).toBeLessThan(5000);
    writer.write({ records: batch(1, 3), trim: [], keep: 100 });
    writer.sync();
    // The batch handed over before the thread gave up is written too.
    expect(store.logs('hello', { limit: 10 }).map((l) => l.requestId)).toEqual(['r2', 'r1', 'r0']);
    await writer.close();
    expect(errors.join('\n')).toMatch(/invocation record writer failed/);
  });
});

describe('ThreadRecordWriter when its thread dies', () => {
  it('stops waiting at once and writes here what the thread never handled, and every later batch', async () => {
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (m: string) => warnings.push(m) };
    const threadFile = fileURLToPath(new URL('./testing/crashing-writer-thread.mjs', import.meta.url));
    const writer = new ThreadRecordWriter({ dbPath, store, log, threadFile });
    writer.write({ records: batch(0, 2), trim: [], keep: 100 }); // written by the thread, which then dies
    writer.write({ records: batch(2, 4), trim: [], keep: 100 }); // never handled
    const t0 = Date.now();
    writer.sync();
    expect(Date.now() - t0).toBeLessThan(5_000); // not the 10 s timeout
    writer.write({ records: batch(4, 5), trim: [], keep: 100 });
    writer.sync();
    expect(store.logs('hello', { limit: 10 }).map((l) => l.requestId)).toEqual(['r4', 'r3', 'r2', 'r1', 'r0']);
    expect(warnings).toEqual(['writing 1 batches of invocation records the writer thread did not handle']);
    await writer.close();
  });
});

describe('InvocationLog with the thread writer', () => {
  it('flush() makes records and counters visible at once; close() loses nothing', async () => {
    const writer = new ThreadRecordWriter({ dbPath, store, log: silentLogger });
    const log = new InvocationLog({ store, writer, clock, log: silentLogger, flushIntervalMs: 50 });
    expect(store.get('hello')?.invokeCount).toBe(0); // cached by the main connection
    for (let i = 0; i < 3; i++) log.record(record(i));
    log.flush();
    expect(store.logs('hello', { limit: 10 }).map((l) => l.requestId)).toEqual(['r2', 'r1', 'r0']);
    expect(store.get('hello')?.invokeCount).toBe(3);
    for (let i = 3; i < 700; i++) log.record(record(i));
    await log.close();
    expect(store.logs('hello', { limit: 1000 })).toHaveLength(700);
  });
});
