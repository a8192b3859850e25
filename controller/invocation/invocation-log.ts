import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/logger.js';
import { StoreRecordWriter, type RecordWriter } from './record-writer.js';
import type { Store } from '../state/store.js';
import type { InvocationRecord } from '../state/records.js';

/**
 * Takes invocation records off the hot path: records are buffered and handed to a
 * {@link RecordWriter} in batches (every `flushIntervalMs`, or at once past `maxBatch`).
 * `flush` runs before reads of logs or counters and waits until the database has everything,
 * and `close` on shutdown, so no record is lost on a clean stop. Each function keeps its
 * newest `retention` records; older ones are trimmed at most once per `trimIntervalMs` per
 * function, so the database does not grow without bound.
 */
export class InvocationLog {
  #buffer: InvocationRecord[] = [];
  #timer: TimerHandle | null = null;
  #store: Store;
  #writer: RecordWriter;
  #clock: Clock;
  #log: Logger;
  #flushIntervalMs: number;
  #maxBatch: number;
  #retention: number;
  #trimIntervalMs: number;
  #lastTrim = new Map<string, number>();
  /** Functions whose counters changed in batches not yet synced: the store's cache of them is stale. */
  #unsynced = new Set<string>();

  /** `writer` defaults to writing through `store` on this thread. */
  constructor(options: {
    store: Store;
    writer?: RecordWriter;
    clock: Clock;
    log: Logger;
    flushIntervalMs?: number;
    maxBatch?: number;
    retention?: number;
    trimIntervalMs?: number;
  }) {
    this.#retention = options.retention ?? 10_000;
    this.#trimIntervalMs = options.trimIntervalMs ?? 10_000;
    this.#store = options.store;
    this.#writer = options.writer ?? new StoreRecordWriter(options.store);
    this.#clock = options.clock;
    this.#log = options.log;
    this.#flushIntervalMs = options.flushIntervalMs ?? 50;
    this.#maxBatch = options.maxBatch ?? 500;
  }

  record(entry: InvocationRecord): void {
    this.#buffer.push(entry);
    if (this.#buffer.length >= this.#maxBatch) this.#handOver();
    else if (!this.#timer) this.#timer = this.#clock.setTimeout(() => this.#handOver(), this.#flushIntervalMs);
  }

  /** Writes everything recorded so far and waits until the database has it. */
  flush(): void {
    this.#handOver();
    this.#writer.sync();
    if (this.#unsynced.size === 0) return;
    this.#store.forget(this.#unsynced);
    this.#unsynced.clear();
  }

  /** Flushes, then stops the writer; call once, on shutdown. */
  async close(): Promise<void> {
    this.flush();
    await this.#writer.close();
  }

  /** Records waiting to be handed to the writer. */
  get pending(): number {
    return this.#buffer.length;
  }

  #handOver(): void {
    if (this.#timer) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#buffer.length === 0) return;
    const records = this.#buffer;
    this.#buffer = [];
    const names = new Set(records.map((r) => r.funcName));
    for (const name of names) this.#unsynced.add(name);
    try {
      this.#writer.write({ records, trim: this.#dueForTrim(names), keep: this.#retention });
    } catch (err) {
      this.#log.error(`could not write ${records.length} invocation records: ${(err as Error).message}`);
    }
  }

  #dueForTrim(names: Set<string>): string[] {
    const now = this.#clock.now();
    const due: string[] = [];
    for (const name of names) {
      const last = this.#lastTrim.get(name);
      if (last !== undefined && now - last < this.#trimIntervalMs) continue;
      this.#lastTrim.set(name, now);
      due.push(name);
    }
    return due;
  }
}
