import Database from 'better-sqlite3';
import { openDatabase } from '../state/sqlite-connection.js';
import type { SecretRecord, SecretStore } from './secret-store.js';

interface SecretRow {
  name: string;
  size: number;
  version: string;
  created_at: number;
  updated_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL,
  version TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`;

const toRecord = (row: SecretRow): SecretRecord => ({
  name: row.name,
  size: row.size,
  version: row.version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/**
 * The better-sqlite3 adapter, on its own connection to the data folder's database (0600, in a
 * 0700 folder): values stay readable by the runtime's user only, and a write is atomic.
 */
export class SqliteSecretStore implements SecretStore {
  #db: Database.Database;
  #stmts;

  /** `path` is the database file (WAL mode) or `:memory:` for tests. */
  constructor(path: string) {
    this.#db = openDatabase(path, SCHEMA);
    const db = this.#db;
    this.#stmts = {
      list: db.prepare<[], SecretRow>('SELECT name, length(value) AS size, version, created_at, updated_at FROM secrets ORDER BY name'),
      get: db.prepare<[string], SecretRow>('SELECT name, length(value) AS size, version, created_at, updated_at FROM secrets WHERE name = ?'),
      value: db.prepare<[string], { value: Buffer }>('SELECT value FROM secrets WHERE name = ?'),
      put: db.prepare(
        `INSERT INTO secrets (name, value, version, created_at, updated_at) VALUES (@name, @value, @version, @now, @now)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value, version = excluded.version, updated_at = excluded.updated_at`,
      ),
      delete: db.prepare('DELETE FROM secrets WHERE name = ?'),
    };
  }

  list(): SecretRecord[] {
    return this.#stmts.list.all().map(toRecord);
  }

  value(name: string): Buffer | undefined {
    return this.#stmts.value.get(name)?.value;
  }

  put(name: string, value: Buffer, version: string, now: number): SecretRecord {
    this.#stmts.put.run({ name, value, version, now });
    return toRecord(this.#stmts.get.get(name)!);
  }

  delete(name: string): boolean {
    return this.#stmts.delete.run(name).changes > 0;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
