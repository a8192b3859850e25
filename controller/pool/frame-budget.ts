/** One connection as the budget counts it. */
export interface Holder {
  key: string;
  bytes: number;
}

/**
 * Bytes of partial frames held in memory, per function and in total. Past either bound a
 * connection that receives more is paused (its worker's writes then wait in the kernel) until
 * frames complete elsewhere, except the connection holding the most, which always reads on:
 * it finishes its frame (or stalls, and is dropped) and frees room, so pausing never
 * deadlocks. No function can grow the runtime's memory past the bounds by more than a frame,
 * and one function's stalled frames hold back only its own connections until the total is reached.
 */
export class FrameBudget {
  readonly perFunction: number;
  readonly total: number;
  #holders = new Set<Holder>();
  #byKey = new Map<string, number>();
  #sum = 0;
  #paused: Array<{ holder: Holder; resume: () => void }> = [];

  constructor(options: { perFunction: number; total: number }) {
    this.perFunction = options.perFunction;
    this.total = options.total;
  }

  /** A new connection's account, under `key` (a function's name). */
  open(key: string): Holder {
    const holder = { key, bytes: 0 };
    this.#holders.add(holder);
    return holder;
  }

  /** Ends an account: its bytes are freed and a wait for room is cancelled. */
  closeAccount(holder: Holder): void {
    this.set(holder, 0);
    this.#holders.delete(holder);
    this.#paused = this.#paused.filter((p) => p.holder !== holder);
  }

  /** Moves an account to another key (a stem cell given to a function). */
  rekey(holder: Holder, key: string): void {
    const bytes = holder.bytes;
    this.set(holder, 0);
    holder.key = key;
    this.set(holder, bytes);
  }

  /** Bytes held now, in total or under one key. */
  held(key?: string): number {
    return key === undefined ? this.#sum : (this.#byKey.get(key) ?? 0);
  }

  /** Sets what a connection holds now. */
  set(holder: Holder, bytes: number): void {
    const delta = bytes - holder.bytes;
    if (delta === 0) return;
    holder.bytes = bytes;
    const next = (this.#byKey.get(holder.key) ?? 0) + delta;
    if (next <= 0) this.#byKey.delete(holder.key);
    else this.#byKey.set(holder.key, next);
    this.#sum += delta;
    if (delta < 0 && this.#paused.length > 0) this.#wake();
  }

  /** Whether `holder` may read on: both bounds hold, or it is the largest holder of each bound that does not. */
  hasRoom(holder: Holder): boolean {
    if (this.#sum > this.total && !this.#largest(holder, () => true)) return false;
    if ((this.#byKey.get(holder.key) ?? 0) > this.perFunction && !this.#largest(holder, (h) => h.key === holder.key)) return false;
    return true;
  }

  /** Calls `resume` once `holder` has room again. */
  whenRoom(holder: Holder, resume: () => void): void {
    this.#paused.push({ holder, resume });
  }

  #largest(holder: Holder, among: (h: Holder) => boolean): boolean {
    for (const h of this.#holders) if (h !== holder && among(h) && h.bytes > holder.bytes) return false;
    return true;
  }

  #wake(): void {
    const ready = this.#paused.filter((p) => this.hasRoom(p.holder));
    if (ready.length === 0) return;
    this.#paused = this.#paused.filter((p) => !ready.includes(p));
    for (const p of ready) p.resume();
  }
}

/** Defaults: a whole 16 MiB frame per connection fits twice per function; 256 MiB in all. */
export const DEFAULT_FRAME_BUDGET = { perFunction: 32 * 1024 * 1024, total: 256 * 1024 * 1024 };
