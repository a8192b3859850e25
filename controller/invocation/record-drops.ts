import type { Clock, TimerHandle } from '../support/clock.js';
import type { Logger } from '../support/logger.js';

/** How often dropped records are summed up in the log. */
const LOG_INTERVAL_MS = 10_000;

/**
 * Invocation records that could not be written (the data disk is full, the database refused
 * them): counted for `/metrics` (`glambdar_invocation_records_dropped_total`) and logged once
 * per interval, not once per record: the first drop at once, then a sum every 10 s while they go on.
 */
export class RecordDrops {
  #total = 0;
  #inWindow = 0;
  #why = '';
  #window: TimerHandle | null = null;
  #clock: Clock;
  #log: Logger;

  constructor(options: { clock: Clock; log: Logger }) {
    this.#clock = options.clock;
    this.#log = options.log;
  }

  /** Records dropped since the process started. */
  get total(): number {
    return this.#total;
  }

  /** Counts `records` dropped, and why. */
  count(records: number, why: string): void {
    if (records <= 0) return;
    this.#total += records;
    this.#why = why;
    if (this.#window) {
      this.#inWindow += records;
      return;
    }
    this.#log.error(`dropping invocation records (${records} now): ${why}; glambdar_invocation_records_dropped_total counts them`);
    this.#openWindow();
  }

  #openWindow(): void {
    this.#window = this.#clock.setTimeout(() => {
      this.#window = null;
      if (this.#inWindow === 0) return;
      this.#log.error(`dropped ${this.#inWindow} invocation records in the last ${LOG_INTERVAL_MS / 1000} s: ${this.#why}`);
      this.#inWindow = 0;
      this.#openWindow();
    }, LOG_INTERVAL_MS);
  }

  /** Stops the summing timer. */
  close(): void {
    if (this.#window) this.#clock.clearTimeout(this.#window);
    this.#window = null;
  }
}
