import type { Clock, TimerHandle } from './clock.js';
import type { Logger } from './logger.js';
import type { Store } from './store.js';
import type { InvocationRecord } from './types.js';

/**
 * Writes invocation records behind the hot path: records are buffered and written in one
 * transaction per batch (every `flushIntervalMs`, or at once past `maxBatch`). `flush` runs
 * before reads of logs and on shutdown, so no record is lost on a clean stop. Each function
 * keeps its newest `retention` records; older ones are trimmed at most once per
 * `trimIntervalMs` per function, so the database does not grow without bound.
 */
export class InvocationLog {
  #buffer: InvocationRecord[] = [];
  #timer: TimerHandle | null = null;
  #store: Store;
  #clock: Clock;
  #log: Logger;
  #flushIntervalMs: number;
  #maxBatch: number;
  #retention: number;
  #trimIntervalMs: number;
  #lastTrim = new Map<string, number>();

  constructor(options: {
    store: Store;
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
    this.#clock = options.clock;
    this.#log = options.log;
    this.#flushIntervalMs = options.flushIntervalMs ?? 50;
    this.#maxBatch = options.maxBatch ?? 500;
  }

  record(entry: InvocationRecord): void {
    this.#buffer.push(entry);
    if (this.#buffer.length >= this.#maxBatch) this.flush();
    else if (!this.#timer) this.#timer = this.#clock.setTimeout(() => this.flush(), this.#flushIntervalMs);
  }

  /** Writes everything buffered now. */
  flush(): void {
    if (this.#timer) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer;
    this.#buffer = [];
    try {
      this.#store.appendInvocations(batch);
      this.#trim(batch);
    } catch (err) {
      this.#log.error(`could not write ${batch.length} invocation records: ${(err as Error).message}`);
    }
  }

  #trim(batch: readonly InvocationRecord[]): void {
    const now = this.#clock.now();
    for (const name of new Set(batch.map((r) => r.funcName))) {
      const last = this.#lastTrim.get(name);
      if (last !== undefined && now - last < this.#trimIntervalMs) continue;
      this.#lastTrim.set(name, now);
      this.#store.trimLogs(name, this.#retention);
    }
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }
}
