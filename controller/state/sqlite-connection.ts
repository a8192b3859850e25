import Database from 'better-sqlite3';

/**
 * A connection to the data folder's database as every store opens one: WAL (readers never wait
 * for the writer thread), a 5-s busy timeout (another connection's write waits instead of
 * failing), and the store's own tables created if missing. A store that may lose its last
 * transactions on power loss sets `synchronous = NORMAL` itself; keys and secrets keep FULL.
 */
export function openDatabase(path: string, schema: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(schema);
  return db;
}
