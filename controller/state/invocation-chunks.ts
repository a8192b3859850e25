import type Database from 'better-sqlite3';
import { endianness } from 'node:os';
import type { LogRecord } from './records.js';
import { decodeRecords, encodeRecords, SLOTS, textLengthAt, type EncodedRecords, type RecordFields } from './record-codec.js';

/**
 * Invocation records, stored a chunk at a time: one row per function per batch the writer
 * commits (its records encoded together), not one row per record. A row per record cost the
 * writer thread ~2.3 us of SQLite work per record (the insert, its index entry, and its
 * delete when trimmed), and on a 2-vCPU machine that CPU came out of the invoke path's own:
 * with the writer's SQLite work switched off, throughput rose ~10 %. A chunk costs one
 * insert per batch, and trimming deletes whole chunks (and rewrites at most one).
 *
 * A chunk holds its records in the codec's format (record-codec.ts), each record's key its id,
 * the numbers as a little-endian blob. Records are in id order within a chunk, and a
 * function's chunks do not overlap in ids, so `first_id` orders them.
 */
export const INVOCATION_CHUNKS_SCHEMA = `
CREATE TABLE IF NOT EXISTS invocation_chunks (
  first_id INTEGER PRIMARY KEY,
  func_name TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  count INTEGER NOT NULL,
  newest_at INTEGER NOT NULL,
  numbers BLOB NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocation_chunks_by_function ON invocation_chunks (func_name, first_id);
CREATE TABLE IF NOT EXISTS invocation_ids (one INTEGER PRIMARY KEY CHECK (one = 1), next INTEGER NOT NULL);
INSERT OR IGNORE INTO invocation_ids (one, next) VALUES (1, 1);`;

/** Characters of text after which a chunk ends (the record that passes it is its last). */
export const CHUNK_TEXT_LIMIT = 256 * 1024;
/** Records per chunk when a record-per-row table is converted. */
const MIGRATION_CHUNK = 500;
const BIG_ENDIAN = endianness() === 'BE';

/** A record with the id it is stored under. */
interface StoredRecord extends RecordFields {
  id: number;
  funcName: string;
}

interface ChunkRow {
  first_id: number;
  count: number;
  numbers: Buffer;
  text: string;
}

/** A chunk's numbers as doubles. Throws on a blob it did not make. */
function numbersOf(funcName: string, bytes: Buffer): Float64Array {
  if (bytes.length % 8 !== 0) throw new Error(`malformed invocation chunk of ${funcName}: ${bytes.length} bytes of numbers`);
  // A copy: the blob's Buffer need not be 8-byte aligned, and swapping must not touch it.
  const n = new Float64Array(bytes.length / 8);
  const view = Buffer.from(n.buffer);
  bytes.copy(view);
  if (BIG_ENDIAN) view.swap64();
  return n;
}

/** The records of a chunk, oldest first. Throws on a chunk it did not make. */
function decode(funcName: string, row: Pick<ChunkRow, 'numbers' | 'text'>): StoredRecord[] {
  return decodeRecords(numbersOf(funcName, row.numbers), row.text, `invocation chunk of ${funcName}`, (fields, id) => ({ ...fields, id, funcName }));
}

/**
 * A chunk without its oldest `drop` records, cut from its columns as they are: its numbers
 * after theirs, its text after theirs (their lengths say where). Trimming cuts one chunk per
 * trim under traffic, and decoding and encoding it again cost the writer thread more than the
 * rest of the trim. Throws on a chunk it did not make.
 */
function withoutOldest(funcName: string, row: ChunkRow, drop: number): { first: number; last: number; count: number; newestAt: number; numbers: Buffer; text: string } {
  const n = numbersOf(funcName, row.numbers);
  const count = n.length / SLOTS;
  if (!Number.isInteger(count) || count !== row.count || drop < 1 || drop >= count) throw new Error(`malformed invocation chunk of ${funcName}: ${n.length} numbers for ${row.count} records`);
  let chars = 0;
  for (let o = 0; o < drop * SLOTS; o += SLOTS) chars += textLengthAt(n, o);
  if (!Number.isInteger(chars) || chars < 0 || chars > row.text.length) throw new Error(`malformed invocation chunk of ${funcName}: ${chars} characters of ${row.text.length}`);
  let newestAt = -Infinity;
  for (let o = drop * SLOTS; o < n.length; o += SLOTS) if (n[o]! > newestAt) newestAt = n[o]!;
  return {
    first: n[drop * SLOTS + 7]!,
    last: n[n.length - SLOTS + 7]!,
    count: count - drop,
    newestAt,
    // The stored bytes, not the doubles read from them: already in the blob's byte order.
    numbers: Buffer.from(row.numbers.subarray(drop * SLOTS * 8)),
    text: row.text.slice(chars),
  };
}

/** A stored record as the API shows it (fields in the order they always had). */
function toLog(r: StoredRecord): LogRecord {
  return {
    id: r.id,
    funcName: r.funcName,
    requestId: r.requestId,
    revision: r.revision,
    invokedAt: new Date(r.invokedAt).toISOString(),
    durationMs: r.durationMs,
    statusCode: r.statusCode,
    coldStart: r.coldStart,
    stdout: r.stdout,
    stderr: r.stderr,
    error: r.error,
    bytesSent: r.bytesSent,
    ttfbMs: r.ttfbMs,
  };
}

/**
 * The `invocation_chunks` table, for {@link SqliteStore}. Ids come from `invocation_ids`, read
 * and moved inside the caller's transaction, so the writer thread's connection and the main
 * one (which writes when the thread is gone) never hand out the same id.
 */
export class InvocationChunks {
  #stmts;

  constructor(db: Database.Database) {
    this.#stmts = {
      nextId: db.prepare<[], { next: number }>('SELECT next FROM invocation_ids WHERE one = 1'),
      moveId: db.prepare('UPDATE invocation_ids SET next = ? WHERE one = 1'),
      insert: db.prepare('INSERT INTO invocation_chunks (first_id, func_name, last_id, count, newest_at, numbers, text) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      sizes: db.prepare<[string], { first_id: number; count: number }>('SELECT first_id, count FROM invocation_chunks WHERE func_name = ? ORDER BY first_id DESC'),
      chunk: db.prepare<[number], ChunkRow>('SELECT first_id, count, numbers, text FROM invocation_chunks WHERE first_id = ?'),
      deleteOne: db.prepare('DELETE FROM invocation_chunks WHERE first_id = ?'),
      deleteBefore: db.prepare('DELETE FROM invocation_chunks WHERE func_name = ? AND first_id < ?'),
      deleteAll: db.prepare('DELETE FROM invocation_chunks WHERE func_name = ?'),
      newestFirst: db.prepare<[string, number], ChunkRow>(
        'SELECT first_id, count, numbers, text FROM invocation_chunks WHERE func_name = ? AND newest_at >= ? ORDER BY first_id DESC',
      ),
      oldestFirst: db.prepare<[string, number, number], ChunkRow>(
        'SELECT first_id, count, numbers, text FROM invocation_chunks WHERE func_name = ? AND last_id > ? AND newest_at >= ? ORDER BY first_id ASC',
      ),
    };
  }

  /**
   * Appends one function's records, in the codec's format and in order, as one chunk under new
   * ids (their keys are overwritten with them); call it inside the batch's transaction.
   */
  appendEncoded(funcName: string, records: EncodedRecords): void {
    if (records.numbers.length === 0) return;
    const count = records.numbers.length / SLOTS;
    const first = this.#stmts.nextId.get()!.next;
    this.#stmts.moveId.run(first + count);
    for (let i = 0; i < count; i++) records.numbers[i * SLOTS + 7] = first + i;
    this.#insert(funcName, records);
  }

  /** Keeps a function's newest `keep` records; returns how many went. Call it inside a transaction. */
  trim(funcName: string, keep: number): number {
    let kept = 0;
    let removed = 0;
    let boundary: number | null = null;
    for (const size of this.#stmts.sizes.all(funcName)) {
      if (boundary !== null) {
        removed += size.count;
        continue;
      }
      if (kept + size.count <= keep) {
        kept += size.count;
        if (kept === keep) boundary = size.first_id;
        continue;
      }
      // This chunk holds the oldest records to keep: rewrite it with only those.
      const drop = size.count - (keep - kept);
      removed += drop;
      if (drop < size.count) {
        const cut = withoutOldest(funcName, this.#stmts.chunk.get(size.first_id)!, drop);
        this.#stmts.deleteOne.run(size.first_id);
        this.#stmts.insert.run(cut.first, funcName, cut.last, cut.count, cut.newestAt, cut.numbers, cut.text);
      } else this.#stmts.deleteOne.run(size.first_id);
      kept = keep;
      boundary = size.first_id;
    }
    if (boundary !== null && removed > 0) this.#stmts.deleteBefore.run(funcName, boundary);
    return removed;
  }

  /** Every record of a function goes. */
  deleteAll(funcName: string): void {
    this.#stmts.deleteAll.run(funcName);
  }

  /** A function's newest records invoked at or after `since`, newest first. */
  newest(funcName: string, since: number, limit: number): LogRecord[] {
    const out: LogRecord[] = [];
    if (limit <= 0) return out;
    for (const row of this.#stmts.newestFirst.iterate(funcName, since)) {
      const records = decode(funcName, row);
      for (let i = records.length - 1; i >= 0; i--) {
        const r = records[i]!;
        if (r.invokedAt < since) continue;
        out.push(toLog(r));
        if (out.length === limit) return out;
      }
    }
    return out;
  }

  /** A function's records after id `afterId` invoked at or after `since`, oldest first. */
  after(funcName: string, afterId: number, since: number, limit: number): LogRecord[] {
    const out: LogRecord[] = [];
    if (limit <= 0) return out;
    for (const row of this.#stmts.oldestFirst.iterate(funcName, afterId, since)) {
      for (const r of decode(funcName, row)) {
        if (r.id <= afterId || r.invokedAt < since) continue;
        out.push(toLog(r));
        if (out.length === limit) return out;
      }
    }
    return out;
  }

  /**
   * `records` as chunks, under ids from `firstId` on (or their own ids when it is null): one
   * chunk, unless their texts pass {@link CHUNK_TEXT_LIMIT}. A function that prints the most
   * it may (GLAMBDAR_MAX_LOG_BYTES) at every call would otherwise make chunks of a hundred MB,
   * and every read of its newest record would decode one.
   */
  #insert(funcName: string, records: EncodedRecords): void {
    const { numbers: n, text } = records;
    let start = 0;
    let from = 0;
    let chars = 0;
    for (let o = 0; o < n.length; o += SLOTS) {
      chars += textLengthAt(n, o);
      if (chars >= CHUNK_TEXT_LIMIT || o === n.length - SLOTS) {
        const end = o + SLOTS;
        let newestAt = -Infinity;
        for (let q = start; q < end; q += SLOTS) if (n[q]! > newestAt) newestAt = n[q]!;
        const slice = n.subarray(start, end);
        // The blob is little-endian everywhere; SQLite copies it as it binds.
        const view = Buffer.from(slice.buffer, slice.byteOffset, slice.byteLength);
        const numbers = BIG_ENDIAN ? Buffer.from(view).swap64() : view;
        this.#stmts.insert.run(n[start + 7]!, funcName, n[o + 7]!, (end - start) / SLOTS, newestAt, numbers, text.slice(from, from + chars));
        start = end;
        from += chars;
        chars = 0;
      }
    }
  }

  /**
   * Converts a record-per-row `invocations` table (what databases held before chunks) into
   * chunks under the same ids, then drops it; new ids continue after the highest it ever gave.
   * One transaction: a crash midway leaves the old table as it was. Returns how many records
   * it converted: 0 when there is no such table.
   */
  static migrate(db: Database.Database): number {
    const columns = db.prepare<[], { name: string }>('PRAGMA table_info(invocations)').all().map((c) => c.name);
    if (columns.length === 0) return 0;
    const optional = (name: string) => (columns.includes(name) ? name : `NULL AS ${name}`);
    const names = db.prepare<[], { func_name: string }>('SELECT DISTINCT func_name FROM invocations');
    const page = db.prepare<[string, number], LegacyRow>(
      `SELECT id, func_name, request_id, invoked_at, duration_ms, status_code, cold_start, stdout, stderr, error,
        ${optional('revision')}, ${optional('bytes_sent')}, ${optional('ttfb_ms')} FROM invocations
        WHERE func_name = ? AND id > ? ORDER BY id LIMIT ${MIGRATION_CHUNK}`,
    );
    const chunks = new InvocationChunks(db);
    return db.transaction(() => {
      // Chunks already here (a version from before chunks ran on this database after one
      // with them, and made the table anew from id 1): the table's records move past them,
      // in the same order, so no id is handed out twice.
      const taken = db.prepare<[], { next: number }>('SELECT next FROM invocation_ids WHERE one = 1').get()!.next;
      const lowest = db.prepare<[], { id: number | null }>('SELECT MIN(id) AS id FROM invocations').get()?.id ?? null;
      const shift = lowest !== null && taken > 1 && lowest < taken ? taken - lowest : 0;
      let highest = 0;
      let converted = 0;
      // A function at a time, a page at a time (a statement cannot read while the same
      // connection writes); each page becomes one chunk.
      for (const { func_name: name } of names.all()) {
        for (let after = -1; ; ) {
          const rows = page.all(name, after);
          if (rows.length === 0) break;
          const stored = rows.map((row): StoredRecord => ({
            id: row.id + shift,
            funcName: row.func_name,
            requestId: row.request_id,
            revision: row.revision,
            invokedAt: row.invoked_at,
            durationMs: row.duration_ms,
            statusCode: row.status_code,
            coldStart: row.cold_start === 1,
            stdout: row.stdout,
            stderr: row.stderr,
            error: row.error,
            bytesSent: row.bytes_sent,
            ttfbMs: row.ttfb_ms,
          }));
          chunks.#insert(name, encodeRecords(stored, (i) => stored[i]!.id));
          converted += rows.length;
          after = rows[rows.length - 1]!.id;
          highest = Math.max(highest, after + shift);
        }
      }
      // AUTOINCREMENT never reused an id, not even a deleted one's: neither do chunks.
      const sequence = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'").get()
        ? db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'invocations'").get()?.seq ?? 0
        : 0;
      const next = Math.max(highest, sequence + shift) + 1;
      db.prepare('UPDATE invocation_ids SET next = MAX(next, ?) WHERE one = 1').run(next);
      db.exec('DROP TABLE invocations');
      return converted;
    })();
  }
}

interface LegacyRow {
  id: number;
  func_name: string;
  request_id: string;
  revision: number | null;
  invoked_at: number;
  duration_ms: number;
  status_code: number;
  cold_start: number;
  stdout: string;
  stderr: string;
  error: string | null;
  bytes_sent: number | null;
  ttfb_ms: number | null;
}
