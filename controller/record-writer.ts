import { Worker } from 'node:worker_threads';
import { compiledFile } from './compiled-file.js';
import type { Logger } from './logger.js';
import type { Store } from './store.js';
import type { InvocationRecord } from './types.js';

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

/** Appends and trims one batch; shared by both writers so they cannot differ. */
export function writeBatch(store: Store, batch: RecordBatch): void {
  store.appendInvocations(batch.records);
  for (const name of batch.trim) store.trimLogs(name, batch.keep);
}

/** A message to the writer thread: a batch, or null to close the database and end. */
export type WriterThreadMessage = RecordBatch | null;

/** What the writer thread is given at start. */
export interface WriterThreadData {
  dbPath: string;
  /**
   * Int32Array over it, for `Atomics.wait`: [0] counts batches handled (written or failed),
   * [1] becomes 1 once the thread takes no more (it could not open the database, or closed).
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
 * nothing but a postMessage. `sync` blocks on a shared counter until the thread has caught
 * up: reads of logs and counters stay synchronous and see every record handed over before.
 * If the thread dies, batches are written on the calling thread instead.
 */
export class ThreadRecordWriter implements RecordWriter {
  #worker: Worker;
  #state: Int32Array;
  #posted = 0;
  #exitedFlag = false;
  #fallback: StoreRecordWriter;
  #log: Logger;
  #syncTimeoutMs: number;
  #exited: Promise<void>;

  /** `store` is the main connection, used only if the thread is gone. */
  constructor(options: { dbPath: string; store: Store; log: Logger; syncTimeoutMs?: number }) {
    this.#log = options.log;
    this.#fallback = new StoreRecordWriter(options.store);
    this.#syncTimeoutMs = options.syncTimeoutMs ?? 10_000;
    const state = new SharedArrayBuffer(8);
    this.#state = new Int32Array(state);
    this.#worker = new Worker(compiledFile(import.meta.url, 'controller/record-writer-thread.js'), { workerData: { dbPath: options.dbPath, state } satisfies WriterThreadData });
    this.#worker.unref();
    this.#worker.on('message', (m: WriterThreadError) => {
      this.#log.error(`could not write ${m.records} invocation records: ${m.error}`);
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
      this.#fallback.write(batch);
      return;
    }
    this.#posted += 1;
    this.#worker.postMessage(batch);
  }

  sync(): void {
    const deadline = Date.now() + this.#syncTimeoutMs;
    for (;;) {
      const done = Atomics.load(this.#state, 0);
      if (done >= this.#posted || this.#dead) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#log.error(`invocation record writer is ${this.#posted - done} batches behind after ${this.#syncTimeoutMs} ms`);
        return;
      }
      // Woken when a batch is handled or the thread gives up; both change slot 0.
      Atomics.wait(this.#state, 0, done, left);
    }
  }

  /** Ends the thread once it has written every batch handed over (messages are handled in order). */
  async close(): Promise<void> {
    if (!this.#dead) this.#worker.postMessage(null);
    await this.#exited;
  }
}
