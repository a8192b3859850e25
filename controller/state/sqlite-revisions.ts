import type Database from 'better-sqlite3';
import type { FunctionSpec } from '../../schemas/index.js';
import type { DesiredFunction, Revision } from './records.js';

interface RevisionRow {
  function_name: string;
  revision: number;
  created_at: number;
  code_digest: string;
  spec: string;
}

/** The revisions table: one row per kept revision, gone with its function. */
export const REVISIONS_SCHEMA = `
CREATE TABLE IF NOT EXISTS revisions (
  function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
  revision INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  code_digest TEXT NOT NULL,
  spec TEXT NOT NULL,
  PRIMARY KEY (function_name, revision)
);
`;

/** Reads a function row with its latest revision number. */
export const SELECT_FUNCTION =
  'SELECT f.*, (SELECT MAX(r.revision) FROM revisions r WHERE r.function_name = f.name) AS revision FROM functions f';

/**
 * What a database made before revisions needs: each function's current state as its first
 * revision (idempotent). Its invocation records keep no revision (InvocationChunks.migrate).
 */
export function migrateToRevisions(db: Database.Database): void {
  db.exec(`INSERT OR IGNORE INTO revisions (function_name, revision, created_at, code_digest, spec)
    SELECT name, generation, updated_at, code_digest, spec FROM functions f
    WHERE NOT EXISTS (SELECT 1 FROM revisions r WHERE r.function_name = f.name)`);
}

/**
 * The SQLite side of revisions, for {@link SqliteStore}: the writes run inside its apply and
 * purge transactions; reads are cached per function until the next write.
 */
export class RevisionTable {
  #history: number;
  #cache = new Map<string, readonly Revision[]>();
  #stmts;

  constructor(
    db: Database.Database,
    history: number,
    private readonly readSpec: (text: string) => FunctionSpec,
    private readonly specText: (spec: FunctionSpec) => string,
  ) {
    this.#history = Math.max(1, history);
    this.#stmts = {
      all: db.prepare<[string], RevisionRow>('SELECT * FROM revisions WHERE function_name = ? ORDER BY revision'),
      latest: db.prepare<[string], RevisionRow>('SELECT * FROM revisions WHERE function_name = ? ORDER BY revision DESC LIMIT 1'),
      insert: db.prepare('INSERT OR REPLACE INTO revisions (function_name, revision, created_at, code_digest, spec) VALUES (?, ?, ?, ?, ?)'),
      deleteOne: db.prepare('DELETE FROM revisions WHERE function_name = ? AND revision = ?'),
      deleteAll: db.prepare('DELETE FROM revisions WHERE function_name = ?'),
    };
  }

  /** The kept revisions of a function, oldest first. */
  list(name: string): readonly Revision[] {
    let revisions = this.#cache.get(name);
    if (!revisions) {
      revisions = Object.freeze(
        this.#stmts.all.all(name).map((row) => ({
          functionName: row.function_name,
          revision: row.revision,
          createdAt: row.created_at,
          codeDigest: row.code_digest,
          spec: this.readSpec(row.spec),
        })),
      );
      this.#cache.set(name, revisions);
    }
    return revisions;
  }

  /**
   * After a write that made generation `generation`: a revision when code or spec (traffic
   * aside) differ from the latest one's, then the newest `history` and every revision the
   * traffic names are kept.
   */
  written(desired: DesiredFunction, generation: number, now: number): void {
    this.#cache.delete(desired.name);
    const spec = this.specText({ ...desired.spec, traffic: undefined });
    const latest = this.#stmts.latest.get(desired.name);
    if (!latest || latest.code_digest !== desired.codeDigest || latest.spec !== spec) {
      this.#stmts.insert.run(desired.name, generation, now, desired.codeDigest, spec);
    }
    const named = new Set((desired.spec.traffic ?? []).map((e) => e.revision));
    const newestFirst = this.#stmts.all.all(desired.name).reverse();
    for (const row of newestFirst.slice(this.#history)) {
      if (!named.has(row.revision)) this.#stmts.deleteOne.run(desired.name, row.revision);
    }
  }

  /** Every revision of a deleted function goes. */
  purge(name: string): void {
    this.#cache.delete(name);
    this.#stmts.deleteAll.run(name);
  }

  /** Drops the cached list (a write is about to run). */
  invalidate(name: string): void {
    this.#cache.delete(name);
  }
}
