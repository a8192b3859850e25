import { Worker } from 'node:worker_threads';
import { compiledFile } from '../support/compiled-file.js';
import type { Logger } from '../support/logger.js';
import type { Store } from '../state/store.js';
import type { InvocationRecord } from '../state/records.js';
import { encodeNamed, type NamedRecords } from '../state/record-codec.js';
import type { SqliteStore } from '../state/sqlite-store.js';

/** One batch for the database: records to append, then functions to trim to `keep` records. */
export interface RecordBatch {
  records: readonly InvocationRecord[];
  trim: readonly string[];
  keep: number;
}

/**
 * Where invocation records go. `write` may return before the batch is committed; `sync`
 * returns once everything written so far is, so readers of the database see it.
 */
export interface RecordWriter {
  write(batch: RecordBatch): void;
  sync(): void;
  close(): Promise<void>;
}

/** Writes on the calling thread, through the store: for in-memory stores and as a fallback. */
export class StoreRecordWriter implements RecordWriter {
  #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  write(batch: RecordBatch): void {
    writeBatch(this.#store, batch);
  }

  sync(): void {}

  async close(): Promise<void> {}
}

/** Appends and trims one batch, on the calling thread. */
export function writeBatch(store: Store, batch: RecordBatch): void {
  store.appendInvocations(batch.records);
  for (const name of batch.trim) store.trimLogs(name, batch.keep);
}

/**
 * {@link writeBatch} in the writer thread: the records stored as they were packed, not decoded
 * into objects first (SqliteStore.appendInvocations encodes its records and stores them the
 * same way, so both writers store alike).
 */
export function writePackedBatch(store: Pick<SqliteStore, 'appendNamed' | 'trimLogs'>, batch: PackedBatch): void {
  store.appendNamed(batch.packed);
  for (const name of batch.trim) store.trimLogs(name, batch.keep);
}

/** A batch as it crosses to the writer thread: its records encoded (state/record-codec.ts), their numbers' buffer transferred. */
export interface PackedBatch {
  packed: NamedRecords;
  trim: readonly string[];
  keep: number;
}

/** A message to the writer thread: a batch, or null to close the database and end. */
export type WriterThreadMessage = PackedBatch | null;

/** What the writer thread is given at start. */
export interface WriterThreadData {
  dbPath: string;
  /**
   * Int32Array over it: [0] counts batches handled (written or failed); [1] becomes 1 once the
   * thread takes no more (it could not open the database, closed, or is dying); [2] moves at
   * each of those, and is what `Atomics.wait` watches.
   */
  state: SharedArrayBuffer;
}

/** A message from the writer thread: a batch it could not write. */
export interface WriterThreadError {
  error: string;
  records: number;
}

/**
 * Writes records on a thread of its own with its own SQLite connection (WAL lets it write
 * beside the main connection), so inserts, counters and trimming cost the invoke path
 * nothing but packing a batch (numbers into a typed array, strings into one) and a postMessage. `sync` blocks on a shared
 * counter until the thread has caught up: reads of logs and counters stay synchronous and see
 * every record handed over before.
 * If the thread gives up or dies, the batches it had not handled and every later one are
 * written on the calling thread: none is lost.
 */
export class ThreadRecordWriter implements RecordWriter {
  #worker: Worker;
  #state: Int32Array;
  #posted = 0;
  /** Batches handed over and not known to be handled; the first is batch number `#unackedFrom`. */
  #unacked: RecordBatch[] = [];
  #unackedFrom = 0;
  #recovered = false;
  #exitedFlag = false;
  #fallback: StoreRecordWriter;
  #log: Logger;
  #syncTimeoutMs: number;
  #exited: Promise<void>;

  /**
   * `store` is the main connection, used only if the thread is gone. `threadFile` is the
   * thread's module (tests give one that crashes).
   */
  constructor(options: { dbPath: string; store: Store; log: Logger; syncTimeoutMs?: number; threadFile?: string; onDropped?: (records: number, why: string) => void }) {
    this.#log = options.log;
    const onDropped = options.onDropped;
    this.#fallback = new StoreRecordWriter(options.store);
    this.#syncTimeoutMs = options.syncTimeoutMs ?? 10_000;
    const state = new SharedArrayBuffer(12);
    this.#state = new Int32Array(state);
    const threadFile = options.threadFile ?? compiledFile('controller/invocation/record-writer-thread.js');
    this.#worker = new Worker(threadFile, { workerData: { dbPath: options.dbPath, state } satisfies WriterThreadData });
    this.#worker.unref();
    this.#worker.on('message', (m: WriterThreadError) => {
      if (onDropped) onDropped(m.records, m.error);
      else this.#log.error(`could not write ${m.records} invocation records: ${m.error}`);
    });
    this.#worker.on('error', (err) => {
      this.#log.error(`invocation record writer failed, writing on the main thread from now on: ${err.message}`);
    });
    this.#exited = new Promise((resolve) =>
      this.#worker.once('exit', () => {
        this.#exitedFlag = true;
        resolve();
      }),
    );
  }

  get #dead(): boolean {
    return this.#exitedFlag || Atomics.load(this.#state, 1) === 1;
  }

  write(batch: RecordBatch): void {
    if (this.#dead) {
      this.#recover();
      this.#fallback.write(batch);
      return;
    }
    this.#forgetHandled();
    this.#posted += 1;
    this.#unacked.push(batch);
    const packed = encodeNamed(batch.records);
    this.#worker.postMessage({ packed, trim: batch.trim, keep: batch.keep } satisfies PackedBatch, [packed.numbers.buffer]);
  }

  sync(): void {
    const deadline = Date.now() + this.#syncTimeoutMs;
    for (;;) {
      // Read the wake-up slot first: a change after this read ends the wait below at once.
      const seen = Atomics.load(this.#state, 2);
      const done = Atomics.load(this.#state, 0);
      if (done >= this.#posted) return;
      if (this.#dead) return this.#recover();
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#log.error(`invocation record writer is ${this.#posted - done} batches behind after ${this.#syncTimeoutMs} ms`);
        return;
      }
      Atomics.wait(this.#state, 2, seen, left);
    }
  }

  /** Ends the thread once it has written every batch handed over (messages are handled in order). */
  async close(): Promise<void> {
    if (!this.#dead) this.#worker.postMessage(null);
    // The thread is unref'd so it never keeps a process up; while we wait for it, it must:
    // with nothing else left (a start that failed), node would end with exit code 13, silently.
    this.#worker.ref();
    await this.#exited;
    this.#recover();
  }

  /** Drops the batches the thread has handled from the ones kept for a recovery. */
  #forgetHandled(): void {
    const handled = Atomics.load(this.#state, 0);
    const drop = Math.min(handled - this.#unackedFrom, this.#unacked.length);
    if (drop <= 0) return;
    this.#unacked.splice(0, drop);
    this.#unackedFrom += drop;
  }

  /** Once the thread is gone: writes here what it was handed and never handled. */
  #recover(): void {
    if (this.#recovered) return;
    this.#recovered = true;
    this.#forgetHandled();
    const lost = this.#unacked;
    this.#unacked = [];
    if (lost.length > 0) this.#log.warn(`writing ${lost.length} batches of invocation records the writer thread did not handle`);
    for (const batch of lost) this.#fallback.write(batch);
  }
}
