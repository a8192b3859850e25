/** The most slots a table grows to; past it, colliding entries stay in the Map. */
const MAX_CAPACITY = 1 << 16;

/**
 * The requests in flight on one connection, by their frame id: what a `Map<number, T>` would
 * hold, without the Map's cost to the garbage collector under churn.
 *
 * Why not a Map: V8's Map rehashes its table every few dozen set/delete pairs, and the old
 * table keeps a pointer to the new one (for live iterators) and its entries. Once a full GC
 * has moved a table to the old generation, every later table, and every request it held,
 * stays reachable from that dead table through each scavenge, so all of them are promoted
 * and live until the next full GC. Measured on the runtime under load: after the first full
 * GC, ~480 KB promoted per scavenge instead of ~1 KB, and ~3-5 us more CPU per request, for
 * good (`docs/design.md`, "The invoke path's cost"). Here a slot is an array element that a
 * delete clears, so a dead request is referenced from nowhere.
 *
 * Ids are the connection's own counter, so the ids in flight are mostly a window and
 * `id % capacity` rarely collides. An entry displaced by a newer id sharing its slot (a
 * request older than `capacity` later ones: a long or stuck one) moves to a small Map; the
 * table doubles when that Map holds more than a quarter of its capacity, up to
 * {@link MAX_CAPACITY} slots.
 */
export class IdTable<T> {
  #ids: Float64Array;
  #values: Array<T | undefined>;
  #overflow = new Map<number, T>();
  #size = 0;

  constructor(capacity = 256) {
    this.#ids = new Float64Array(capacity).fill(-1);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  get(id: number): T | undefined {
    const slot = id % this.#ids.length;
    if (this.#ids[slot] === id) return this.#values[slot];
    return this.#overflow.size === 0 ? undefined : this.#overflow.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /**
   * Adds or replaces the entry for `id`, a non-negative safe integer (anything else has no
   * slot, and -1 marks an empty one: a RangeError); `value` must not be undefined.
   */
  set(id: number, value: T): void {
    if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`IdTable id must be a non-negative safe integer, not ${id}`);
    const slot = id % this.#ids.length;
    const held = this.#ids[slot]!;
    if (held === id) {
      this.#values[slot] = value;
      return;
    }
    if (this.#overflow.size > 0 && this.#overflow.delete(id)) this.#size -= 1;
    if (held !== -1) this.#overflow.set(held, this.#values[slot]!);
    this.#ids[slot] = id;
    this.#values[slot] = value;
    this.#size += 1;
    if (this.#overflow.size > this.#ids.length / 4 && this.#ids.length < MAX_CAPACITY) this.#grow();
  }

  /** Removes the entry for `id`; false if there was none. */
  delete(id: number): boolean {
    const slot = id % this.#ids.length;
    if (this.#ids[slot] === id) {
      this.#ids[slot] = -1;
      this.#values[slot] = undefined;
      this.#size -= 1;
      return true;
    }
    if (this.#overflow.size === 0 || !this.#overflow.delete(id)) return false;
    this.#size -= 1;
    return true;
  }

  /** The entries' values, in no particular order. */
  values(): T[] {
    const out: T[] = [];
    for (let slot = 0; slot < this.#ids.length; slot++) if (this.#ids[slot] !== -1) out.push(this.#values[slot]!);
    for (const value of this.#overflow.values()) out.push(value);
    return out;
  }

  clear(): void {
    this.#ids.fill(-1);
    this.#values.fill(undefined);
    this.#overflow.clear();
    this.#size = 0;
  }

  #grow(): void {
    const entries: Array<[number, T]> = [...this.#overflow];
    for (let slot = 0; slot < this.#ids.length; slot++) if (this.#ids[slot] !== -1) entries.push([this.#ids[slot]!, this.#values[slot]!]);
    const capacity = this.#ids.length * 2;
    this.#ids = new Float64Array(capacity).fill(-1);
    this.#values = new Array<T | undefined>(capacity).fill(undefined);
    this.#overflow = new Map();
    this.#size = 0;
    for (const [id, value] of entries) this.set(id, value);
  }
}
