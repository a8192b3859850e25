import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { canonicalSpec, readInstanceId, SqliteStore } from './sqlite-store.js';
import { CHUNK_TEXT_LIMIT } from './invocation-chunks.js';
import { encodeNamed } from './record-codec.js';
import type { DesiredFunction, FunctionStatus, InvocationRecord } from './records.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');

function desired(overrides: Partial<DesiredFunction> & { specPatch?: Partial<FunctionSpec> } = {}): DesiredFunction {
  const { specPatch, ...rest } = overrides;
  return {
    name: 'hello',
    spec: FunctionSpec.parse(specPatch ?? {}),
    codeDigest: 'digest-1',
    source: 'api',
    manifestPath: null,
    ...rest,
  };
}

function status(overrides: Partial<FunctionStatus> = {}): FunctionStatus {
  return {
    observedGeneration: 1,
    phase: 'Ready',
    replicas: 1,
    readyReplicas: 1,
    busyReplicas: 0,
    desiredReplicas: 1,
    predictedRps: 0,
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Reconciled',
        message: 'desired state reached',
        lastTransitionTime: new Date(T0).toISOString(),
        observedGeneration: 1,
      },
    ],
    ...overrides,
  };
}

function invocation(overrides: Partial<InvocationRecord> = {}): InvocationRecord {
  return {
    requestId: 'req',
    funcName: 'hello',
    revision: 1,
    invokedAt: T0,
    durationMs: 1.5,
    statusCode: 200,
    coldStart: false,
    stdout: '',
    stderr: '',
    error: null,
    bytesSent: 0,
    ttfbMs: null,
    ...overrides,
  };
}

describe('SqliteStore', () => {
  let store: SqliteStore;

  beforeEach(() => {
    store = new SqliteStore(':memory:');
  });

  afterEach(() => {
    store.close();
  });

  describe('instanceId', () => {
    let dir: string;

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'glambdar-store-'));
    });

    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('stays the same when one database file is reopened, and differs between files', () => {
      const file = join(dir, 'glambdar.db');
      const first = new SqliteStore(file);
      const id = first.instanceId;
      first.close();
      const again = new SqliteStore(file);
      expect(again.instanceId).toBe(id);
      again.close();

      const other = new SqliteStore(join(dir, 'other.db'));
      expect(other.instanceId).not.toBe(id);
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      other.close();
    });
  });

  describe('apply', () => {
    it('creates a function with generation 1 and zeroed counters', () => {
      const { outcome, record } = store.apply(desired({ specPatch: { rateLimit: 3 } }), T0);
      expect(outcome).toBe('created');
      expect(record).toMatchObject({
        name: 'hello',
        generation: 1,
        codeDigest: 'digest-1',
        source: 'api',
        manifestPath: null,
        createdAt: T0,
        updatedAt: T0,
        lastInvokedAt: null,
        invokeCount: 0,
        deleting: false,
      });
      expect(record.spec.rateLimit).toBe(3);
      expect(store.get('hello')).toEqual(record);
      expect(store.list().map((f) => f.name)).toEqual(['hello']);
    });

    it('answers unchanged and keeps the generation when the same spec is applied again', () => {
      store.apply(desired(), T0);
      const { outcome, record } = store.apply(desired(), T0 + 1000);
      expect(outcome).toBe('unchanged');
      expect(record.generation).toBe(1);
      expect(record.updatedAt).toBe(T0);
    });

    it('treats a spec with its keys in another order as the same spec', () => {
      const spec = FunctionSpec.parse({ env: { A: '1', B: '2' } });
      store.apply(desired({ spec }), T0);
      const reordered = Object.fromEntries(Object.entries({ ...spec, env: { B: '2', A: '1' } }).reverse()) as unknown as FunctionSpec;
      expect(store.apply(desired({ spec: reordered }), T0 + 1).outcome).toBe('unchanged');
    });

    it('bumps the generation when the spec changes', () => {
      store.apply(desired(), T0);
      const { outcome, record } = store.apply(desired({ specPatch: { maxConcurrency: 3 } }), T0 + 5);
      expect(outcome).toBe('updated');
      expect(record.generation).toBe(2);
      expect(record.spec.maxConcurrency).toBe(3);
      expect(record.updatedAt).toBe(T0 + 5);
      expect(record.createdAt).toBe(T0);
    });

    it('bumps the generation when only the code digest changes', () => {
      store.apply(desired(), T0);
      const { outcome, record } = store.apply(desired({ codeDigest: 'digest-2' }), T0 + 5);
      expect(outcome).toBe('updated');
      expect(record.generation).toBe(2);
      expect(record.codeDigest).toBe('digest-2');
    });

    it('updates without a generation bump when only source or manifestPath change', () => {
      store.apply(desired(), T0);
      const moved = store.apply(desired({ source: 'manifest', manifestPath: '/m/hello.yaml' }), T0 + 5);
      expect(moved.outcome).toBe('updated');
      expect(moved.record.generation).toBe(1);
      expect(moved.record).toMatchObject({ source: 'manifest', manifestPath: '/m/hello.yaml' });

      const renamed = store.apply(desired({ source: 'manifest', manifestPath: '/m/other.yaml' }), T0 + 6);
      expect(renamed.outcome).toBe('updated');
      expect(renamed.record.generation).toBe(1);
    });

    it('gives a function re-applied while deleting a new generation and clears the mark', () => {
      store.apply(desired(), T0);
      store.markDeleting('hello', T0 + 1);
      const { outcome, record } = store.apply(desired(), T0 + 2);
      expect(outcome).toBe('updated');
      expect(record.generation).toBe(2);
      expect(record.deleting).toBe(false);
    });
  });

  describe('status', () => {
    it('never bumps the generation, and writing the same status again is unchanged', () => {
      store.apply(desired(), T0);
      expect(store.writeStatus('hello', status())).toBe('created');
      expect(store.writeStatus('hello', status())).toBe('unchanged');
      expect(store.writeStatus('hello', status({ phase: 'Degraded' }))).toBe('updated');
      expect(store.getStatus('hello')?.phase).toBe('Degraded');
      expect(store.get('hello')?.generation).toBe(1);
      expect(store.get('hello')?.updatedAt).toBe(T0);
    });

    it('writes no status for an unknown function', () => {
      expect(store.writeStatus('ghost', status())).toBe('unchanged');
      expect(store.getStatus('ghost')).toBeUndefined();
    });
  });

  describe('deletion', () => {
    it('marks a function deleting, then purge removes its record, status and logs', () => {
      store.apply(desired(), T0);
      store.apply(desired({ name: 'other' }), T0);
      store.writeStatus('hello', status());
      store.appendInvocations([invocation(), invocation({ funcName: 'other' })]);

      expect(store.markDeleting('hello', T0 + 10)).toBe(true);
      expect(store.get('hello')).toMatchObject({ deleting: true, updatedAt: T0 + 10, generation: 1 });
      expect(store.markDeleting('ghost', T0 + 10)).toBe(false);

      expect(store.purge('hello')).toBe('deleted');
      expect(store.get('hello')).toBeUndefined();
      expect(store.getStatus('hello')).toBeUndefined();
      expect(store.logs('hello', { limit: 10 })).toEqual([]);
      expect(store.list().map((f) => f.name)).toEqual(['other']);
      expect(store.logs('other', { limit: 10 })).toHaveLength(1);
      expect(store.purge('hello')).toBe('unchanged');
    });

    it('creates a purged function afresh at generation 1 with no old status', () => {
      store.apply(desired(), T0);
      store.apply(desired({ codeDigest: 'digest-2' }), T0);
      store.writeStatus('hello', status());
      store.markDeleting('hello', T0);
      store.purge('hello');
      const { outcome, record } = store.apply(desired(), T0 + 1);
      expect(outcome).toBe('created');
      expect(record.generation).toBe(1);
      expect(store.getStatus('hello')).toBeUndefined();
    });
  });

  describe('invocations', () => {
    it('bumps invokeCount and lastInvokedAt in one batch', () => {
      store.apply(desired(), T0);
      store.appendInvocations([
        invocation({ requestId: 'a', invokedAt: T0 + 30 }),
        invocation({ requestId: 'b', invokedAt: T0 + 10 }),
      ]);
      expect(store.get('hello')).toMatchObject({ invokeCount: 2, lastInvokedAt: T0 + 30 });
      // An older record arriving late never moves lastInvokedAt backwards.
      store.appendInvocations([invocation({ requestId: 'c', invokedAt: T0 + 5 })]);
      expect(store.get('hello')).toMatchObject({ invokeCount: 3, lastInvokedAt: T0 + 30 });
      store.appendInvocations([]);
      expect(store.get('hello')?.invokeCount).toBe(3);
    });

    it('returns logs newest first with limit and since, and the ones after an id oldest first', () => {
      store.apply(desired(), T0);
      store.appendInvocations(
        Array.from({ length: 5 }, (_, i) =>
          invocation({ requestId: `r${i}`, invokedAt: T0 + i * 1000, stdout: `out ${i}\n`, coldStart: i === 0, statusCode: 200 + i }),
        ),
      );
      const all = store.logs('hello', { limit: 100 });
      expect(all.map((l) => l.requestId)).toEqual(['r4', 'r3', 'r2', 'r1', 'r0']);
      expect(all[4]).toMatchObject({
        funcName: 'hello',
        invokedAt: new Date(T0).toISOString(),
        stdout: 'out 0\n',
        stderr: '',
        coldStart: true,
        statusCode: 200,
        durationMs: 1.5,
        error: null,
      });
      expect(all[0]!.coldStart).toBe(false);

      expect(store.logs('hello', { limit: 2 }).map((l) => l.requestId)).toEqual(['r4', 'r3']);
      expect(store.logs('hello', { limit: 100, since: T0 + 3000 }).map((l) => l.requestId)).toEqual(['r4', 'r3']);
      const afterId = all[2]!.id; // r2
      // A follower reads the next ones in order, page by page, skipping none.
      expect(store.logsAfter('hello', { afterId: all[4]!.id, limit: 2 }).map((l) => l.requestId)).toEqual(['r1', 'r2']);
      expect(store.logsAfter('hello', { afterId, limit: 2 }).map((l) => l.requestId)).toEqual(['r3', 'r4']);
      expect(store.logsAfter('hello', { afterId: 0, limit: 10, since: T0 + 3000 }).map((l) => l.requestId)).toEqual(['r3', 'r4']);
    });

    it('keeps the order and every field of a batch, skipped records included', () => {
      store.apply(desired(), T0);
      // Every seventh record is a stranger's.
      const count = 107;
      const batch = Array.from({ length: count }, (_, i) =>
        invocation({
          funcName: i % 7 === 3 ? 'stranger' : 'hello',
          requestId: `r${i}`,
          revision: 1 + (i % 3),
          invokedAt: T0 + i,
          durationMs: i / 4,
          statusCode: 200 + (i % 5),
          coldStart: i % 2 === 0,
          stdout: `out ${i}`,
          stderr: i % 2 === 0 ? '' : `err ${i}`,
          error: i % 11 === 0 ? `failed ${i}` : null,
        }),
      );
      store.appendInvocations(batch);
      const kept = batch.filter((r) => r.funcName === 'hello');
      const logs = store.logsAfter('hello', { afterId: 0, limit: count });
      expect(logs.map((l) => l.requestId)).toEqual(kept.map((r) => r.requestId));
      expect(logs.map((l) => [l.revision, l.durationMs, l.statusCode, l.coldStart, l.stdout, l.stderr, l.error])).toEqual(
        kept.map((r) => [r.revision, r.durationMs, r.statusCode, r.coldStart, r.stdout, r.stderr, r.error]),
      );
      expect(store.get('hello')).toMatchObject({ invokeCount: kept.length, lastInvokedAt: T0 + count - 1 });
    });

    it('stores a batch as one row per function, however many records it holds', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'glambdar-chunks-'));
      const path = join(dir, 'chunks.db');
      const onDisk = new SqliteStore(path);
      try {
        onDisk.apply(desired(), T0);
        onDisk.apply(desired({ name: 'other' }), T0);
        const batch = Array.from({ length: 300 }, (_, i) => invocation({ funcName: i % 3 === 0 ? 'other' : 'hello', requestId: `r${i}`, invokedAt: T0 + i }));
        onDisk.appendInvocations(batch);
        const db = new Database(path, { readonly: true });
        const rows = db.prepare<[], { func_name: string; count: number }>('SELECT func_name, count FROM invocation_chunks ORDER BY func_name').all();
        db.close();
        expect(rows).toEqual([
          { func_name: 'hello', count: 200 },
          { func_name: 'other', count: 100 },
        ]);
        expect(onDisk.logs('other', { limit: 1 }).map((l) => l.requestId)).toEqual(['r297']);
      } finally {
        onDisk.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('ends a chunk once its texts pass the limit, so a function printing the most it may leaves chunks a read can decode', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'glambdar-chunks-'));
      const path = join(dir, 'big.db');
      const onDisk = new SqliteStore(path);
      try {
        onDisk.apply(desired(), T0);
        const loud = 'x'.repeat(CHUNK_TEXT_LIMIT * 0.4);
        const batch = Array.from({ length: 10 }, (_, i) => invocation({ requestId: `r${i}`, invokedAt: T0 + i, stdout: loud }));
        onDisk.appendInvocations(batch);
        const db = new Database(path, { readonly: true });
        const sizes = db.prepare<[], { count: number; chars: number }>('SELECT count, length(text) AS chars FROM invocation_chunks ORDER BY first_id').all();
        db.close();
        // 0.4 + 0.4 + 0.4 passes the limit: three records a chunk, the last one alone.
        expect(sizes.map((c) => c.count)).toEqual([3, 3, 3, 1]);
        expect(onDisk.logsAfter('hello', { afterId: 0, limit: 100 }).map((l) => [l.requestId, l.stdout.length])).toEqual(batch.map((r) => [r.requestId, loud.length]));
        expect(onDisk.trimLogs('hello', 5)).toBe(5);
        expect(onDisk.logs('hello', { limit: 100 }).map((l) => l.requestId)).toEqual(['r9', 'r8', 'r7', 'r6', 'r5']);
      } finally {
        onDisk.close();
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('trims to exactly the newest records across chunks, rewriting the one the cut falls in', () => {
      store.apply(desired(), T0);
      for (let batch = 0; batch < 5; batch++) {
        store.appendInvocations(Array.from({ length: 10 }, (_, i) => invocation({ requestId: `r${batch * 10 + i}`, invokedAt: T0 + batch * 10 + i })));
      }
      const before = store.logsAfter('hello', { afterId: 0, limit: 100 });
      expect(store.trimLogs('hello', 23)).toBe(27);
      const after = store.logsAfter('hello', { afterId: 0, limit: 100 });
      expect(after.map((l) => l.requestId)).toEqual(before.slice(27).map((l) => l.requestId));
      // Ids stay what they were: a reader's cursor still points at the same record.
      expect(after.map((l) => l.id)).toEqual(before.slice(27).map((l) => l.id));
      expect(store.trimLogs('hello', 23)).toBe(0);
      expect(store.trimLogs('hello', 20)).toBe(3);
      expect(store.logs('hello', { limit: 100 })).toHaveLength(20);
      expect(store.trimLogs('hello', 0)).toBe(20);
      expect(store.logs('hello', { limit: 100 })).toEqual([]);
      // New records take new ids, after every one handed out before.
      store.appendInvocations([invocation({ requestId: 'next' })]);
      expect(store.logs('hello', { limit: 1 })[0]!.id).toBe(before[before.length - 1]!.id + 1);
    });

    it('cuts the chunk a trim falls in without changing a field of the records it keeps', () => {
      store.apply(desired(), T0);
      // Texts of every kind and length (UTF-16 pairs among them), so the cut must count them all.
      const records = Array.from({ length: 12 }, (_, i) =>
        invocation({
          requestId: `req-${i}`,
          invokedAt: T0 + (i === 2 ? 100 : i),
          durationMs: i / 3,
          statusCode: 200 + i,
          coldStart: i % 2 === 0,
          stdout: i % 3 === 0 ? '' : `out ${'🙂'.repeat(i)}\n`,
          stderr: i % 4 === 0 ? `err ${i}` : '',
          error: i % 5 === 0 ? null : i % 5 === 1 ? '' : `failed ${i}`,
          bytesSent: i % 2 === 0 ? null : i * 10,
          ttfbMs: i === 7 ? 1.25 : null,
        }),
      );
      store.appendInvocations(records);
      const before = store.logsAfter('hello', { afterId: 0, limit: 100 });
      expect(store.trimLogs('hello', 7)).toBe(5);
      expect(store.logsAfter('hello', { afterId: 0, limit: 100 })).toEqual(before.slice(5));
      expect(store.logs('hello', { limit: 100 })).toEqual(before.slice(5).reverse());
      // The newest record by time (index 2) went with the cut: a read since its time finds nothing.
      expect(store.logs('hello', { limit: 100, since: T0 + 100 })).toEqual([]);
      expect(store.logs('hello', { limit: 100, since: T0 + 11 })).toEqual([before[11]]);
      expect(store.trimLogs('hello', 1)).toBe(6);
      expect(store.logs('hello', { limit: 100 })).toEqual([before[11]]);
    });

    it('stores a batch encoded for the writer thread as each function\'s records, and refuses one it did not make without writing', () => {
      store.apply(desired(), T0);
      store.apply(desired({ name: 'other' }), T0);
      const batch = [
        invocation({ requestId: 'a', stdout: 'one' }),
        invocation({ requestId: 'b', funcName: 'other', stderr: 'two', error: 'failed' }),
        invocation({ requestId: 'c', invokedAt: T0 + 5 }),
      ];
      store.appendNamed(encodeNamed(batch));
      expect(store.logsAfter('hello', { afterId: 0, limit: 10 }).map((l) => [l.requestId, l.stdout])).toEqual([
        ['a', 'one'],
        ['c', ''],
      ]);
      expect(store.logsAfter('other', { afterId: 0, limit: 10 }).map((l) => [l.requestId, l.stderr, l.error])).toEqual([['b', 'two', 'failed']]);
      expect(store.get('hello')!.invokeCount).toBe(2);
      const bad = encodeNamed([invocation({ requestId: 'd' }), invocation({ requestId: 'e', funcName: 'other' })]);
      expect(() => store.appendNamed({ ...bad, text: bad.text.slice(1) })).toThrow(/malformed invocation records/);
      expect(store.logs('hello', { limit: 10 })).toHaveLength(2);
      expect(store.logs('other', { limit: 10 })).toHaveLength(1);
    });

    it('drops records of an unknown or purged function and keeps the rest of the batch', () => {
      store.apply(desired(), T0);
      store.apply(desired({ name: 'gone' }), T0);
      store.markDeleting('gone', T0);
      store.purge('gone');
      store.appendInvocations([
        invocation({ funcName: 'gone', requestId: 'late' }),
        invocation({ funcName: 'never', requestId: 'stray' }),
        invocation({ requestId: 'kept' }),
      ]);
      expect(store.logs('gone', { limit: 10 })).toEqual([]);
      expect(store.logs('never', { limit: 10 })).toEqual([]);
      expect(store.logs('hello', { limit: 10 }).map((l) => l.requestId)).toEqual(['kept']);
      expect(store.get('hello')?.invokeCount).toBe(1);
      expect(store.get('gone')).toBeUndefined();
    });
  });
});

describe('canonicalSpec', () => {
  it('does not depend on key order, nested env included', () => {
    const a = FunctionSpec.parse({ rateLimit: 2, env: { ZED: 'z', ALPHA: 'a' } });
    // The same fields, inserted in reverse order.
    const b = Object.fromEntries(Object.entries({ ...a, env: { ALPHA: 'a', ZED: 'z' } }).reverse()) as unknown as typeof a;
    expect(canonicalSpec(a)).toBe(canonicalSpec(b));
    expect(canonicalSpec({ ...a, rateLimit: 3 })).not.toBe(canonicalSpec(a));
    expect(JSON.parse(canonicalSpec(a))).toEqual(a);
  });
});

describe('SqliteStore beside a second writing connection (the record writer thread)', () => {
  let dir: string;
  let store: SqliteStore;
  let other: Database.Database;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'glambdar-store-'));
    store = new SqliteStore(join(dir, 'glambdar.db'));
    store.apply(desired(), T0);
    // No busy wait: it either writes at once or is refused at once.
    other = new Database(join(dir, 'glambdar.db'), { timeout: 0 });
  });

  afterEach(async () => {
    other.close();
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs once, at the first read of `key` on `target`: the other connection tries to write then. */
  function writeBetween<T extends object>(target: T, key: keyof T): { wrote: () => boolean } {
    let wrote = false;
    const value = target[key];
    Object.defineProperty(target, key, {
      enumerable: true,
      get() {
        try {
          other.prepare('UPDATE functions SET invoke_count = invoke_count + 1').run();
          wrote = true;
        } catch {
          // refused: the store's transaction holds the write lock
        }
        return value;
      },
    });
    return { wrote: () => wrote };
  }

  it('applies a spec though the other connection tries to write between its read and its write', () => {
    const next = desired({ specPatch: { rateLimit: 7 } });
    // apply reads the current row, then spreads `desired` (reading this getter), then updates.
    const between = writeBetween(next, 'manifestPath');
    expect(store.apply(next, T0 + 1)).toMatchObject({ outcome: 'updated', record: { generation: 2 } });
    expect(between.wrote()).toBe(false);
  });

  it('appends invocation records though the other connection tries to write between its read and its write', () => {
    const batch = encodeNamed([invocation({ requestId: 'between' })]);
    // appendNamed reads each function's name, checks the function exists, then inserts its records.
    const between = writeBetween(batch.names, 0);
    store.appendNamed(batch);
    expect(between.wrote()).toBe(false);
    expect(store.logs('hello', { limit: 5 }).map((l) => l.requestId)).toEqual(['between']);
  });
});

describe('readInstanceId (glambdar down and orphan collection)', () => {
  it('reads the instance id of a data folder without writing, and says null when the folder or its database is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'glb-instance-'));
    try {
      const dbPath = join(dir, 'glambdar.db');
      expect(readInstanceId(dbPath)).toBeNull();
      const store = new SqliteStore(dbPath);
      const id = store.instanceId;
      expect(readInstanceId(dbPath)).toBe(id);
      store.close();
      expect(readInstanceId(dbPath)).toBe(id);
      expect(readInstanceId(join(dir, 'gone', 'glambdar.db'))).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SqliteStore and secrets', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'glambdar-store-secrets-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives a function a new generation when the versions of its secrets change, and none when they do not', () => {
    const store = new SqliteStore(':memory:');
    try {
      store.apply(desired({ specPatch: { secrets: ['db'] }, secretsVersion: 'v1' }), T0);
      expect(store.apply(desired({ specPatch: { secrets: ['db'] }, secretsVersion: 'v1' }), T0 + 1).outcome).toBe('unchanged');
      const { outcome, record } = store.apply(desired({ specPatch: { secrets: ['db'] }, secretsVersion: 'v2' }), T0 + 2);
      expect(outcome).toBe('updated');
      expect(record).toMatchObject({ generation: 2, secretsVersion: 'v2' });
      expect(store.get('hello')?.secretsVersion).toBe('v2');
    } finally {
      store.close();
    }
  });

  it('opens a database made before secrets existed: every function reads with no secrets version, as it was', () => {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE functions (
      name TEXT PRIMARY KEY, spec TEXT NOT NULL, code_digest TEXT NOT NULL,
      source TEXT NOT NULL CHECK (source IN ('api', 'manifest')), manifest_path TEXT,
      generation INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      last_invoked_at INTEGER, invoke_count INTEGER NOT NULL DEFAULT 0, deleting INTEGER NOT NULL DEFAULT 0)`);
    old.prepare(`INSERT INTO functions (name, spec, code_digest, source, generation, created_at, updated_at) VALUES ('hello', '{"rateLimit":3}', 'digest-1', 'api', 4, 1, 1)`).run();
    old.close();
    const store = new SqliteStore(path);
    try {
      expect(store.get('hello')).toMatchObject({ generation: 4, secretsVersion: '', spec: { rateLimit: 3, auth: 'none', secrets: [] } });
    } finally {
      store.close();
    }
  });

  it('opens a database with a row per invocation record: the records move into chunks under their ids, and new ids pass the old sequence', () => {
    const path = join(dir, 'rows.db');
    const first = new SqliteStore(path);
    first.apply(desired(), T0);
    first.apply(desired({ name: 'other' }), T0);
    first.close();
    // The table as it was before chunks, records of two functions interleaved, and the highest
    // id given out (AUTOINCREMENT's sequence) above every id left, as after a trim of the newest.
    const old = new Database(path);
    old.exec(`CREATE TABLE invocations (id INTEGER PRIMARY KEY AUTOINCREMENT, func_name TEXT NOT NULL, request_id TEXT NOT NULL,
        invoked_at INTEGER NOT NULL, duration_ms REAL NOT NULL, status_code INTEGER NOT NULL, cold_start INTEGER NOT NULL,
        stdout TEXT NOT NULL, stderr TEXT NOT NULL, error TEXT, bytes_sent INTEGER, ttfb_ms REAL, revision INTEGER);
      CREATE INDEX invocations_newest_first ON invocations (func_name, id DESC);`);
    const insert = old.prepare(`INSERT INTO invocations (id, func_name, request_id, invoked_at, duration_ms, status_code, cold_start, stdout, stderr, error, bytes_sent, ttfb_ms, revision)
      VALUES (?, ?, ?, ?, 1.25, ?, ?, ?, '', ?, ?, NULL, ?)`);
    for (let id = 1; id <= 1200; id++) {
      insert.run(id, id % 2 === 0 ? 'hello' : 'other', `r${id}`, T0 + id, 200 + (id % 3), id % 2, `out ${id}`, id % 5 === 0 ? `failed ${id}` : null, id % 7 === 0 ? null : id, id % 4 === 0 ? null : 2);
    }
    old.exec("UPDATE sqlite_sequence SET seq = 5000 WHERE name = 'invocations'");
    old.close();

    const store = new SqliteStore(path);
    try {
      expect(store.convertedRecords).toBe(1200);
      const hello = store.logsAfter('hello', { afterId: 0, limit: 10_000 });
      expect(hello).toHaveLength(600);
      expect(hello[0]).toMatchObject({ id: 2, requestId: 'r2', statusCode: 202, coldStart: false, stdout: 'out 2', error: null, bytesSent: 2, ttfbMs: null, revision: 2 });
      expect(hello[2]).toMatchObject({ id: 6, revision: 2, bytesSent: 6 });
      expect(hello[1]).toMatchObject({ id: 4, revision: null });
      // The API shows the fields in the order it always did.
      expect(Object.keys(hello[0]!)).toEqual(['id', 'funcName', 'requestId', 'revision', 'invokedAt', 'durationMs', 'statusCode', 'coldStart', 'stdout', 'stderr', 'error', 'bytesSent', 'ttfbMs']);
      expect(hello.find((l) => l.id === 10)).toMatchObject({ error: 'failed 10', bytesSent: 10 });
      expect(hello.find((l) => l.id === 14)).toMatchObject({ bytesSent: null });
      expect(store.logs('other', { limit: 2 }).map((l) => l.id)).toEqual([1199, 1197]);
      store.appendInvocations([invocation({ requestId: 'new' })]);
      expect(store.logs('hello', { limit: 1 })[0]).toMatchObject({ requestId: 'new', id: 5001 });
    } finally {
      store.close();
    }
    const db = new Database(path, { readonly: true });
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'invocations'").all();
    db.close();
    expect(tables).toEqual([]);
  });

  it('opens a database an older version wrote records into after a newer one: its rows move past the chunks, no id twice', () => {
    const path = join(dir, 'downgraded.db');
    const newer = new SqliteStore(path);
    newer.apply(desired(), T0);
    newer.appendInvocations([1, 2, 3].map((i) => invocation({ requestId: `chunked ${i}`, invokedAt: T0 + i })));
    newer.close();
    // The older version makes its table anew, and AUTOINCREMENT starts again at 1.
    const old = new Database(path);
    old.exec(`CREATE TABLE invocations (id INTEGER PRIMARY KEY AUTOINCREMENT, func_name TEXT NOT NULL, request_id TEXT NOT NULL,
        invoked_at INTEGER NOT NULL, duration_ms REAL NOT NULL, status_code INTEGER NOT NULL, cold_start INTEGER NOT NULL,
        stdout TEXT NOT NULL, stderr TEXT NOT NULL, error TEXT, bytes_sent INTEGER, ttfb_ms REAL, revision INTEGER)`);
    for (const i of [1, 2]) {
      old.prepare(`INSERT INTO invocations (func_name, request_id, invoked_at, duration_ms, status_code, cold_start, stdout, stderr, revision)
        VALUES ('hello', ?, ?, 1, 200, 0, '', '', 1)`).run(`rowed ${i}`, T0 + 10 + i);
    }
    old.close();
    const store = new SqliteStore(path);
    try {
      expect(store.convertedRecords).toBe(2);
      const all = store.logsAfter('hello', { afterId: 0, limit: 10 });
      expect(all.map((l) => [l.id, l.requestId])).toEqual([
        [1, 'chunked 1'],
        [2, 'chunked 2'],
        [3, 'chunked 3'],
        [4, 'rowed 1'],
        [5, 'rowed 2'],
      ]);
      store.appendInvocations([invocation({ requestId: 'after' })]);
      expect(store.logs('hello', { limit: 1 })[0]).toMatchObject({ id: 6, requestId: 'after' });
    } finally {
      store.close();
    }
  });

  it('opens a database made before streaming: its invocation records read with no bytes or time to first byte, new ones keep both', () => {
    const path = join(dir, 'pre-streaming.db');
    const first = new SqliteStore(path);
    first.apply(desired(), T0);
    first.close();
    // The invocations table as it was before the two columns: rebuilt without them, one old record in it.
    const old = new Database(path);
    old.exec(`DROP TABLE IF EXISTS invocations;
      CREATE TABLE invocations (id INTEGER PRIMARY KEY AUTOINCREMENT, func_name TEXT NOT NULL, request_id TEXT NOT NULL,
        invoked_at INTEGER NOT NULL, duration_ms REAL NOT NULL, status_code INTEGER NOT NULL, cold_start INTEGER NOT NULL,
        stdout TEXT NOT NULL, stderr TEXT NOT NULL, error TEXT, revision INTEGER)`);
    old.prepare(`INSERT INTO invocations (func_name, request_id, invoked_at, duration_ms, status_code, cold_start, stdout, stderr, error, revision)
      VALUES ('hello', 'old', ${T0}, 2, 200, 0, 'kept', '', NULL, 1)`).run();
    old.close();
    const store = new SqliteStore(path);
    try {
      store.appendInvocations([invocation({ requestId: 'new', invokedAt: T0 + 1, bytesSent: 1234, ttfbMs: 5.5 })]);
      const [newest, oldest] = store.logs('hello', { limit: 5 });
      expect(oldest).toMatchObject({ requestId: 'old', stdout: 'kept', bytesSent: null, ttfbMs: null });
      expect(newest).toMatchObject({ requestId: 'new', bytesSent: 1234, ttfbMs: 5.5 });
    } finally {
      store.close();
    }
  });
});
