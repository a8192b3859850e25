import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/logger.js';
import { StoreRecordWriter, type RecordWriter } from './record-writer.js';
import type { Store } from '../state/store.js';
import type { InvocationRecord } from '../state/records.js';
import type { DiskSpace } from '../state/disk-space.js';
import type { RecordDrops } from './record-drops.js';

/**
 * The longest a record waits before it is handed to the writer, which commits each batch at
 * once: what a `kill -9` can lose is the records of about this long (README "Data"). Not 10:
 * with sequential traffic a batch then holds ~20 records and its commit, every 10 ms, competes
 * with the processes each request wakes on a small machine; at 25 the sequential p50 was
 * 0.010-0.021 ms lower in side-by-side runs (docs/design.md, "The invoke path's cost").
 */
export const RECORD_HANDOVER_MS = 25;

/**
 * Takes invocation records off the hot path: records are buffered and handed to a
 * {@link RecordWriter} in batches (every `flushIntervalMs`, or at once past `maxBatch`).
 * `flush` runs before reads of logs or counters and waits until the database has everything,
 * and `close` on shutdown, so no record is lost on a clean stop. Each function keeps its
 * newest `retention` records: a function is trimmed each time `trimSlack` new records of it
 * were handed over (so it holds at most `retention + trimSlack`), and once more `trimIdleMs`
 * after the last hand-over, so an idle function holds exactly `retention`.
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
  #trimSlack: number;
  #trimIdleMs: number;
  /** Records handed over since the function's last trim. */
  #untrimmed = new Map<string, number>();
  #idleTrim: TimerHandle | null = null;
  #space: Pick<DiskSpace, 'low' | 'freeBytes' | 'reserveMb'> | undefined;
  #drops: Pick<RecordDrops, 'count'> | undefined;
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
    /** Records over `retention` a function may hold before it is trimmed; default a tenth of it. */
    trimSlack?: number;
    /** How long after the last hand-over the final trim runs. */
    trimIdleMs?: number;
    /** The data disk: below its reserve, records are dropped (and counted) instead of written. */
    space?: Pick<DiskSpace, 'low' | 'freeBytes' | 'reserveMb'>;
    /** Where dropped records are counted. */
    drops?: Pick<RecordDrops, 'count'>;
  }) {
    this.#space = options.space;
    this.#drops = options.drops;
    this.#retention = options.retention ?? 10_000;
    this.#trimSlack = options.trimSlack ?? Math.max(1, Math.ceil(this.#retention / 10));
    this.#trimIdleMs = options.trimIdleMs ?? 1000;
    this.#store = options.store;
    this.#writer = options.writer ?? new StoreRecordWriter(options.store);
    this.#clock = options.clock;
    this.#log = options.log;
    this.#flushIntervalMs = options.flushIntervalMs ?? RECORD_HANDOVER_MS;
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
    // The idle trim, now: what stops holds its retention, not its slack.
    if (this.#idleTrim) {
      this.#clock.clearTimeout(this.#idleTrim);
      this.#idleTrim = null;
      const trim = [...this.#untrimmed].filter(([, n]) => n > 0).map(([name]) => name);
      this.#untrimmed.clear();
      if (trim.length > 0) this.#writer.write({ records: [], trim, keep: this.#retention });
    }
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
    if (this.#space?.low()) {
      const freeMb = Math.floor(this.#space.freeBytes() / (1024 * 1024));
      this.#dropped(records.length, `the data disk has ${freeMb} MiB free, under GLAMBDAR_DISK_RESERVE_MB=${this.#space.reserveMb} (kept for deploys and deletions)`);
      return;
    }
    const names = new Set(records.map((r) => r.funcName));
    for (const name of names) this.#unsynced.add(name);
    try {
      this.#writer.write({ records, trim: this.#dueForTrim(records), keep: this.#retention });
    } catch (err) {
      this.#dropped(records.length, (err as Error).message);
    }
    this.#armIdleTrim();
  }

  #dropped(records: number, why: string): void {
    if (this.#drops) this.#drops.count(records, why);
    else this.#log.error(`could not write ${records} invocation records: ${why}`);
  }

  /** Functions with `trimSlack` records handed over since their last trim. */
  #dueForTrim(records: readonly InvocationRecord[]): string[] {
    const due: string[] = [];
    for (const r of records) {
      const count = (this.#untrimmed.get(r.funcName) ?? 0) + 1;
      if (count >= this.#trimSlack) {
        this.#untrimmed.set(r.funcName, 0);
        due.push(r.funcName);
      } else this.#untrimmed.set(r.funcName, count);
    }
    return due;
  }

  /** Once hand-overs stop, trims every function that got records since its last trim. */
  #armIdleTrim(): void {
    if (this.#idleTrim) this.#clock.clearTimeout(this.#idleTrim);
    this.#idleTrim = this.#clock.setTimeout(() => {
      this.#idleTrim = null;
      const trim = [...this.#untrimmed].filter(([, n]) => n > 0).map(([name]) => name);
      this.#untrimmed.clear();
      if (trim.length === 0) return;
      try {
        this.#writer.write({ records: [], trim, keep: this.#retention });
      } catch (err) {
        this.#log.error(`could not trim invocation records: ${(err as Error).message}`);
      }
    }, this.#trimIdleMs);
  }
}
