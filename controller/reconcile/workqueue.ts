import type { Clock, TimerHandle } from '../support/clock.js';
import { TerminalError } from '../support/errors.js';
import type { Logger } from '../support/logger.js';

/** What a reconcile may ask for besides success: another look after a while. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** Reconciles one key. Throw to retry with backoff; throw TerminalError to give up. */
export type ReconcileFn = (key: string) => Promise<ReconcileResult | void>;

/** Work-queue tuning; defaults follow controller-runtime's rate limiter. */
export interface WorkQueueOptions {
  reconcile: ReconcileFn;
  clock: Clock;
  log: Logger;
  workers?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * A queue of keys, as in controller-runtime: repeats collapse, one key never runs twice at
 * once (a key added while processing is reconciled once more afterwards), failures back off
 * per key exponentially, success forgets the backoff.
 */
export class WorkQueue {
  #opts: Required<WorkQueueOptions>;
  #queue: string[] = [];
  #queued = new Set<string>();
  #dirty = new Set<string>();
  #processing = new Set<string>();
  #failures = new Map<string, number>();
  #timers = new Map<string, { at: number; handle: TimerHandle }>();
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: WorkQueueOptions) {
    this.#opts = { workers: 4, baseDelayMs: 5, maxDelayMs: 60_000, ...options };
  }

  /** Queues a key now. */
  add(key: string): void {
    if (this.#stopped) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  /** Queues a key after `ms`; an earlier pending timer for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    const at = this.#opts.clock.now() + ms;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.#opts.clock.clearTimeout(existing.handle);
    const handle = this.#opts.clock.setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    this.#timers.set(key, { at, handle });
  }

  /** Resets a key's backoff. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times in a row this key has failed. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Keys waiting or running now. */
  get length(): number {
    return this.#queue.length + this.#processing.size;
  }

  /** Resolves when nothing is queued or running (timers may still be pending). */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops taking keys and cancels timers; resolves when running reconciles end. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    for (const { handle } of this.#timers.values()) this.#opts.clock.clearTimeout(handle);
    this.#timers.clear();
    this.#queue = [];
    this.#queued.clear();
    this.#dirty.clear();
    await this.idle();
  }

  #pump(): void {
    while (this.#processing.size < this.#opts.workers && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#queued.delete(key);
      this.#processing.add(key);
      void this.#process(key);
    }
  }

  async #process(key: string): Promise<void> {
    try {
      const result = await this.#opts.reconcile(key);
      this.forget(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (err instanceof TerminalError) {
        this.#opts.log.warn(`reconcile ${key}: ${err.message} (not retried)`);
        this.forget(key);
      } else {
        const failures = (this.#failures.get(key) ?? 0) + 1;
        this.#failures.set(key, failures);
        const delay = Math.min(this.#opts.baseDelayMs * 2 ** (failures - 1), this.#opts.maxDelayMs);
        this.#opts.log.warn(`reconcile ${key} failed (attempt ${failures}, retry in ${delay} ms): ${(err as Error).message}`);
        this.addAfter(key, delay);
      }
    } finally {
      this.#processing.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
      if (this.length === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}
