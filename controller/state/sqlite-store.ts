import Database from 'better-sqlite3';
import { openDatabase } from './sqlite-connection.js';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { SPEC_DEFAULTS, type FunctionSpec } from '../../schemas/index.js';
import type { DesiredFunction, FunctionRecord, FunctionStatus, InvocationRecord, LogRecord, Revision, WriteOutcome } from './records.js';
import { INVOCATION_CHUNKS_SCHEMA, InvocationChunks } from './invocation-chunks.js';
import { encodeNamed, SLOTS, splitByKey, type NamedRecords } from './record-codec.js';
import { migrateToRevisions, RevisionTable, REVISIONS_SCHEMA, SELECT_FUNCTION } from './sqlite-revisions.js';
import type { Store } from './store.js';

interface FunctionRow {
  name: string;
  spec: string;
  code_digest: string;
  secrets_version: string;
  source: 'api' | 'manifest';
  manifest_path: string | null;
  generation: number;
  created_at: number;
  updated_at: number;
  last_invoked_at: number | null;
  invoke_count: number;
  deleting: number;
  /** The latest revision (a subquery of the revisions table). */
  revision: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS functions (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  code_digest TEXT NOT NULL,
  secrets_version TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL CHECK (source IN ('api', 'manifest')),
  manifest_path TEXT,
  generation INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_invoked_at INTEGER,
  invoke_count INTEGER NOT NULL DEFAULT 0,
  deleting INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS function_status (
  name TEXT PRIMARY KEY REFERENCES functions(name) ON DELETE CASCADE,
  status TEXT NOT NULL
);
${INVOCATION_CHUNKS_SCHEMA}
${REVISIONS_SCHEMA}`;

/**
 * The instance id written in a data folder's database, read without writing anything: null
 * when there is no database there (the folder is gone, or never held a runtime); undefined
 * when it cannot be read now (then nobody should act on it).
 */
export function readInstanceId(dbPath: string): string | null | undefined {
  try {
    statSync(dbPath);
  } catch (err) {
    // Gone (or its folder is): null. Not readable by us (EACCES...): nobody should act on it.
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? null : undefined;
  }
  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
  } catch {
    return undefined;
  }
  try {
    return db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'instance_id'").get()?.value ?? null;
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/** Serialises a spec with sorted keys so equal specs compare equal as text. */
export function canonicalSpec(spec: FunctionSpec): string {
  const sortKeys = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  };
  return JSON.stringify(sortKeys(spec));
}

/** A stored spec, with the default of every field it predates. */
function readSpec(text: string): FunctionSpec {
  return { ...SPEC_DEFAULTS, ...(JSON.parse(text) as Partial<FunctionSpec>) };
}

function toRecord(row: FunctionRow): FunctionRecord {
  return {
    name: row.name,
    // A record stored before a field existed reads with that field's default.
    spec: readSpec(row.spec),
    codeDigest: row.code_digest,
    secretsVersion: row.secrets_version,
    source: row.source,
    manifestPath: row.manifest_path,
    generation: row.generation,
    revision: row.revision ?? row.generation,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastInvokedAt: row.last_invoked_at,
    invokeCount: row.invoke_count,
    deleting: row.deleting === 1,
  };
}

/**
 * The better-sqlite3 adapter: WAL mode, prepared statements, one transaction per batch. Two
 * connections write (this one and the record writer thread's), so every transaction that reads
 * before it writes begins IMMEDIATE: it waits for the write lock up front (busy_timeout), where
 * a deferred one would fail at once with "database is locked" had the other connection
 * committed since its read.
 */
export class SqliteStore implements Store {
  readonly instanceId: string;
  /** Invocation records this open converted from a row each into chunks: non-zero only on the first open after an upgrade. */
  readonly convertedRecords: number;
  #db: Database.Database;
  #stmts;
  /** Records by name; the invoke path reads one per request. Every write below invalidates. */
  #cache = new Map<string, FunctionRecord>();
  /** Every function's name in order, or null after a create or purge: list() reads records from #cache by it. */
  #names: string[] | null = null;
  /** Statuses by name, as stored (only this connection writes them). */
  #statuses = new Map<string, { text: string; status: FunctionStatus }>();
  #revisions: RevisionTable;
  #chunks: InvocationChunks;

  /**
   * `path` is a file (WAL mode) or `:memory:` for tests. `revisionHistory` (default 10) is how
   * many of a function's newest revisions are kept besides those its traffic names.
   */
  constructor(path: string, options: { revisionHistory?: number } = {}) {
    this.#db = openDatabase(path, SCHEMA);
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('foreign_keys = ON');
    // A database made before secrets existed gains the column (every function without secrets).
    const columns = this.#db.prepare<[], { name: string }>('PRAGMA table_info(functions)').all();
    if (!columns.some((c) => c.name === 'secrets_version')) this.#db.exec("ALTER TABLE functions ADD COLUMN secrets_version TEXT NOT NULL DEFAULT ''");
    // A database made before chunks has a row per record (of any earlier shape): converted once.
    this.convertedRecords = InvocationChunks.migrate(this.#db);
    migrateToRevisions(this.#db);
    const db = this.#db;
    this.#revisions = new RevisionTable(db, options.revisionHistory ?? 10, readSpec, canonicalSpec);
    this.#chunks = new InvocationChunks(db);
    this.#stmts = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      putMeta: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
      get: db.prepare<[string], FunctionRow>(`${SELECT_FUNCTION} WHERE f.name = ?`),
      list: db.prepare<[], FunctionRow>(`${SELECT_FUNCTION} ORDER BY f.name`),
      insert: db.prepare(
        `INSERT INTO functions (name, spec, code_digest, secrets_version, source, manifest_path, generation, created_at, updated_at)
         VALUES (@name, @spec, @codeDigest, @secretsVersion, @source, @manifestPath, 1, @now, @now)`,
      ),
      update: db.prepare(
        `UPDATE functions SET spec = @spec, code_digest = @codeDigest, secrets_version = @secretsVersion, source = @source, manifest_path = @manifestPath,
         generation = generation + @bump, updated_at = @now, deleting = 0 WHERE name = @name`,
      ),
      markDeleting: db.prepare('UPDATE functions SET deleting = 1, updated_at = ? WHERE name = ?'),
      deleteFunction: db.prepare('DELETE FROM functions WHERE name = ?'),
      getStatus: db.prepare<[string], { status: string }>('SELECT status FROM function_status WHERE name = ?'),
      putStatus: db.prepare(
        'INSERT INTO function_status (name, status) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET status = excluded.status',
      ),
      bumpCounters: db.prepare(
        `UPDATE functions SET invoke_count = invoke_count + ?, last_invoked_at = MAX(COALESCE(last_invoked_at, 0), ?)
         WHERE name = ?`,
      ),
    };
    let id = this.#stmts.getMeta.get('instance_id')?.value;
    if (!id) {
      this.#stmts.putMeta.run('instance_id', randomBytes(6).toString('hex'));
      id = this.#stmts.getMeta.get('instance_id')!.value;
    }
    this.instanceId = id;
  }

  apply(desired: DesiredFunction, now: number): { outcome: WriteOutcome; record: FunctionRecord } {
    this.#cache.delete(desired.name);
    this.#revisions.invalidate(desired.name);
    return this.#db.transaction(() => {
      const spec = canonicalSpec(desired.spec);
      const existing = this.#stmts.get.get(desired.name);
      const secretsVersion = desired.secretsVersion ?? '';
      const params = { name: desired.name, codeDigest: desired.codeDigest, source: desired.source, manifestPath: desired.manifestPath, secretsVersion, spec, now };
      if (!existing) {
        this.#names = null;
        this.#stmts.insert.run(params);
        this.#revisions.written(desired, 1, now);
        return { outcome: 'created' as const, record: toRecord(this.#stmts.get.get(desired.name)!) };
      }
      // New secret values change what the containers hold, as new code does.
      const specChanged = existing.spec !== spec || existing.code_digest !== desired.codeDigest || existing.secrets_version !== secretsVersion;
      const ownerChanged =
        existing.source !== desired.source || existing.manifest_path !== desired.manifestPath || existing.deleting === 1;
      if (!specChanged && !ownerChanged) return { outcome: 'unchanged' as const, record: toRecord(existing) };
      // A deleted-then-recreated function gets a new generation even with the same spec.
      const bump = specChanged || existing.deleting === 1 ? 1 : 0;
      this.#stmts.update.run({ ...params, bump });
      if (bump === 1) this.#revisions.written(desired, existing.generation + 1, now);
      return { outcome: 'updated' as const, record: toRecord(this.#stmts.get.get(desired.name)!) };
    }).immediate();
  }

  revisions(name: string): readonly Revision[] {
    return this.#revisions.list(name);
  }

  get(name: string): FunctionRecord | undefined {
    const cached = this.#cache.get(name);
    if (cached) return cached;
    const row = this.#stmts.get.get(name);
    if (!row) return undefined;
    const record = toRecord(row);
    this.#cache.set(name, record);
    return record;
  }

  list(): FunctionRecord[] {
    if (this.#names === null) {
      const rows = this.#stmts.list.all();
      this.#names = rows.map((row) => row.name);
      for (const row of rows) if (!this.#cache.has(row.name)) this.#cache.set(row.name, toRecord(row));
    }
    const out: FunctionRecord[] = [];
    for (const name of this.#names) {
      const record = this.get(name);
      if (record) out.push(record);
    }
    return out;
  }

  markDeleting(name: string, now: number): boolean {
    this.#cache.delete(name);
    return this.#stmts.markDeleting.run(now, name).changes > 0;
  }

  purge(name: string): WriteOutcome {
    this.#cache.delete(name);
    this.#names = null;
    this.#statuses.delete(name);
    return this.#db.transaction(() => {
      this.#chunks.deleteAll(name);
      this.#revisions.purge(name);
      return this.#stmts.deleteFunction.run(name).changes > 0 ? ('deleted' as const) : ('unchanged' as const);
    }).immediate();
  }

  getStatus(name: string): FunctionStatus | undefined {
    return this.#storedStatus(name)?.status;
  }

  writeStatus(name: string, status: FunctionStatus): WriteOutcome {
    const text = JSON.stringify(status);
    const existing = this.#storedStatus(name);
    if (existing?.text === text) return 'unchanged';
    if (!this.get(name)) return 'unchanged';
    this.#stmts.putStatus.run(name, text);
    this.#statuses.set(name, { text, status: JSON.parse(text) as FunctionStatus });
    return existing ? 'updated' : 'created';
  }

  /** A status as stored, read from the database once. */
  #storedStatus(name: string): { text: string; status: FunctionStatus } | undefined {
    const cached = this.#statuses.get(name);
    if (cached) return cached;
    const row = this.#stmts.getStatus.get(name);
    if (!row) return undefined;
    const stored = { text: row.status, status: JSON.parse(row.status) as FunctionStatus };
    this.#statuses.set(name, stored);
    return stored;
  }

  appendInvocations(records: readonly InvocationRecord[]): void {
    this.appendNamed(encodeNamed(records));
  }

  /**
   * {@link appendInvocations} for records already encoded: the writer thread stores a batch as
   * the main thread packed it. Each function's records, in order, become one chunk. Throws,
   * writing nothing, on a batch {@link encodeNamed} did not make.
   */
  appendNamed(batch: NamedRecords): void {
    const byName = splitByKey(batch, batch.names.length, 'invocation records');
    if (byName.size === 0) return;
    this.#db.transaction(() => {
      for (const [key, records] of byName) {
        const name = batch.names[key]!;
        // A record that arrives after its function was purged is dropped, not orphaned.
        if (this.#stmts.get.get(name) === undefined) continue;
        this.#chunks.appendEncoded(name, records);
        const n = records.numbers;
        let last = 0;
        for (let o = 0; o < n.length; o += SLOTS) if (n[o]! > last) last = n[o]!;
        this.#stmts.bumpCounters.run(n.length / SLOTS, last, name);
        this.#cache.delete(name);
      }
    }).immediate();
  }

  trimLogs(name: string, keep: number): number {
    return this.#db.transaction(() => this.#chunks.trim(name, keep)).immediate();
  }

  logs(name: string, options: { limit: number; since?: number }): LogRecord[] {
    return this.#chunks.newest(name, options.since ?? 0, options.limit);
  }

  logsAfter(name: string, options: { afterId: number; limit: number; since?: number }): LogRecord[] {
    return this.#chunks.after(name, options.afterId, options.since ?? 0, options.limit);
  }

  forget(names: Iterable<string>): void {
    for (const name of names) this.#cache.delete(name);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
