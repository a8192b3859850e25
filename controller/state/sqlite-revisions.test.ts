import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { SqliteStore } from './sqlite-store.js';
import type { DesiredFunction } from './records.js';

const T0 = Date.parse('2025-01-01T00:00:00Z');

function desired(codeDigest: string, spec: Record<string, unknown> = {}): DesiredFunction {
  return { name: 'hello', spec: FunctionSpec.parse(spec), codeDigest, source: 'api', manifestPath: null };
}

let store: SqliteStore;
beforeEach(() => {
  store = new SqliteStore(':memory:', { revisionHistory: 2 });
});
afterEach(() => store.close());

const numbers = () => store.revisions('hello').map((r) => r.revision);

describe('SqliteStore revisions', () => {
  it('records a revision, numbered by its generation, at each change of code or spec, immutable afterwards', () => {
    expect(store.apply(desired('d1'), T0).record).toMatchObject({ generation: 1, revision: 1 });
    expect(store.apply(desired('d1'), T0 + 1).outcome).toBe('unchanged');
    expect(store.apply(desired('d2'), T0 + 2).record).toMatchObject({ generation: 2, revision: 2 });
    expect(store.apply(desired('d2', { memoryMb: 256 }), T0 + 3).record).toMatchObject({ generation: 3, revision: 3 });
    expect(store.revisions('hello').map((r) => [r.revision, r.codeDigest, r.spec.memoryMb, r.createdAt])).toEqual([
      [2, 'd2', 128, T0 + 2],
      [3, 'd2', 256, T0 + 3],
    ]);
  });

  it('makes no revision of a change of traffic alone, though the generation moves', () => {
    store.apply(desired('d1'), T0);
    store.apply(desired('d2'), T0 + 1);
    const split = store.apply(desired('d2', { traffic: [{ revision: 1, percent: 50 }, { latestRevision: true, percent: 50 }] }), T0 + 2);
    expect(split.record).toMatchObject({ generation: 3, revision: 2 });
    expect(numbers()).toEqual([1, 2]);
    expect(store.revisions('hello')[1]!.spec).not.toHaveProperty('traffic');
  });

  it('keeps the newest revisionHistory revisions and every one the traffic names', () => {
    store.apply(desired('d1'), T0);
    store.apply(desired('d2'), T0 + 1);
    // Revision 1 has traffic: it stays however many come after it.
    store.apply(desired('d2', { traffic: [{ revision: 1, percent: 10, tag: 'old' }, { latestRevision: true, percent: 90 }] }), T0 + 2);
    for (const [i, digest] of ['d4', 'd5', 'd6'].entries()) {
      store.apply(desired(digest, { traffic: [{ revision: 1, percent: 10, tag: 'old' }, { latestRevision: true, percent: 90 }] }), T0 + 3 + i);
    }
    expect(numbers()).toEqual([1, 5, 6]);
    // Once no entry names it, it goes with the next write.
    store.apply(desired('d7'), T0 + 10);
    expect(numbers()).toEqual([6, 7]);
  });

  it('reads from memory until a write, and purge takes every revision with the function', () => {
    store.apply(desired('d1'), T0);
    const first = store.revisions('hello');
    expect(store.revisions('hello')).toBe(first);
    store.apply(desired('d2'), T0 + 1);
    expect(store.revisions('hello')).not.toBe(first);
    expect(store.markDeleting('hello', T0 + 2)).toBe(true);
    store.purge('hello');
    expect(store.revisions('hello')).toEqual([]);
    // Created again: revisions start over with it.
    expect(store.apply(desired('d3'), T0 + 3).record).toMatchObject({ generation: 1, revision: 1 });
    expect(store.revisions('hello').map((r) => r.codeDigest)).toEqual(['d3']);
  });
});

describe('a database made before revisions', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'glb-migrate-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gets each function as its first revision and a revision column on invocation records', () => {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.exec(`
      CREATE TABLE functions (name TEXT PRIMARY KEY, spec TEXT NOT NULL, code_digest TEXT NOT NULL, source TEXT NOT NULL,
        manifest_path TEXT, generation INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        last_invoked_at INTEGER, invoke_count INTEGER NOT NULL DEFAULT 0, deleting INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE invocations (id INTEGER PRIMARY KEY AUTOINCREMENT, func_name TEXT NOT NULL, request_id TEXT NOT NULL,
        invoked_at INTEGER NOT NULL, duration_ms REAL NOT NULL, status_code INTEGER NOT NULL, cold_start INTEGER NOT NULL,
        stdout TEXT NOT NULL, stderr TEXT NOT NULL, error TEXT);
      INSERT INTO functions (name, spec, code_digest, source, generation, created_at, updated_at)
        VALUES ('legacy', '{"rateLimit":4}', 'dold', 'api', 5, ${T0}, ${T0 + 9});
      INSERT INTO invocations (func_name, request_id, invoked_at, duration_ms, status_code, cold_start, stdout, stderr)
        VALUES ('legacy', 'r1', ${T0}, 1, 200, 0, '', '');
    `);
    old.close();

    const migrated = new SqliteStore(path);
    try {
      expect(migrated.get('legacy')).toMatchObject({ generation: 5, revision: 5 });
      expect(migrated.revisions('legacy').map((r) => [r.revision, r.codeDigest, r.spec.rateLimit, r.createdAt])).toEqual([[5, 'dold', 4, T0 + 9]]);
      expect(migrated.logs('legacy', { limit: 5 }).map((l) => [l.requestId, l.revision])).toEqual([['r1', null]]);
    } finally {
      migrated.close();
    }
    // Opening it again changes nothing.
    const again = new SqliteStore(path);
    expect(again.revisions('legacy')).toHaveLength(1);
    again.close();
  });
});
