import Database from 'better-sqlite3';
import { openDatabase } from '../state/sqlite-connection.js';
import type { KeyStore, StoredKey } from './key-store.js';

interface KeyRow {
  id: string;
  function_name: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS function_keys (
  id TEXT PRIMARY KEY,
  function_name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS function_keys_by_function ON function_keys (function_name);
`;

/** The better-sqlite3 adapter, on its own connection to the data folder's database. */
export class SqliteKeyStore implements KeyStore {
  #db: Database.Database;
  #stmts;

  /** `path` is the database file (WAL mode) or `:memory:` for tests. */
  constructor(path: string) {
    this.#db = openDatabase(path, SCHEMA);
    const db = this.#db;
    this.#stmts = {
      all: db.prepare<[], KeyRow>('SELECT * FROM function_keys ORDER BY created_at, id'),
      insert: db.prepare(
        'INSERT INTO function_keys (id, function_name, hash, created_at, last_used_at) VALUES (@id, @functionName, @hash, @createdAt, @lastUsedAt)',
      ),
      delete: db.prepare('DELETE FROM function_keys WHERE function_name = ? AND id = ?'),
      deleteFunction: db.prepare('DELETE FROM function_keys WHERE function_name = ?'),
      used: db.prepare('UPDATE function_keys SET last_used_at = ? WHERE id = ?'),
    };
  }

  all(): StoredKey[] {
    return this.#stmts.all.all().map((r) => ({
      id: r.id,
      functionName: r.function_name,
      hash: r.hash,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  insert(key: StoredKey): void {
    this.#stmts.insert.run(key);
  }

  delete(functionName: string, id: string): boolean {
    return this.#stmts.delete.run(functionName, id).changes > 0;
  }

  deleteFunction(functionName: string): number {
    return this.#stmts.deleteFunction.run(functionName).changes;
  }

  recordUse(uses: ReadonlyArray<{ id: string; lastUsedAt: number }>): void {
    if (uses.length === 0) return;
    this.#db.transaction(() => {
      for (const u of uses) this.#stmts.used.run(u.lastUsedAt, u.id);
    }).immediate();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
