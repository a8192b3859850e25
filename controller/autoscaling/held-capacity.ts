/** Busy periods whose needs are remembered: bursts vary, the largest of the last few is held. */
const PERIODS = 4;
/** Held slots stay a floor this long after the last tick that held them. */
const GRACE_MS = 10_000;

/**
 * What an idle function keeps and pre-warms under the idle-time policy: the most slots the
 * EWMA planned during any of its last few busy periods (a busy period is a run of ticks with
 * a request in flight or a pause shorter than an idle time). Idle times decide when these
 * are held; this decides how many.
 *
 * While held, they are also a floor for `GRACE_MS` after the last tick that held them, so a
 * burst that arrives finds its pre-warmed containers kept while the EWMA, which decayed to 0
 * during the pause, catches up with it.
 */
export class HeldCapacity {
  /** The slots an idle function holds. */
  slots = 0;
  #busy = false;
  #busySlots = 0;
  #history = new Float64Array(PERIODS);
  #count = 0;
  #floorUntil = -Infinity;

  /** Called at each tick with the slots planned from traffic: closes a busy period when the function turned idle. */
  track(busy: boolean, planned: number): void {
    if (busy) {
      this.#busySlots = Math.max(this.#busySlots, planned);
      this.#busy = true;
    } else if (this.#busy) {
      this.#busy = false;
      this.#history[this.#count++ % PERIODS] = this.#busySlots;
      this.slots = Math.max(...this.#history);
      this.#busySlots = 0;
    }
  }

  /** The policy held the slots at this tick. */
  heldAt(now: number): void {
    this.#floorUntil = now + GRACE_MS;
  }

  /** The held slots while they are a floor, else 0. */
  floor(now: number): number {
    return now < this.#floorUntil ? this.slots : 0;
  }
}
