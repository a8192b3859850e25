/**
 * A pause shorter than this is part of a burst, unless configured otherwise: long enough that
 * Poisson traffic of a request a second or more is one burst, short enough for a rhythm of
 * bursts 20 s apart to be learned.
 */
export const DEFAULT_MIN_IDLE_MS = 5000;

/** Tuning of {@link IdleHistogram}; every field has a default. */
export interface IdleHistogramOptions {
  /** The shortest idle time kept: shorter pauses are part of a burst, not a gap between bursts. Default 5000 ms. */
  minMs?: number;
  /** The longest idle time the bins cover; longer ones are counted as out of range. Default 4 h. */
  maxMs?: number;
  /** Each bin's upper edge over its lower edge: the relative precision of a percentile. Default 1.05. */
  binRatio?: number;
  /**
   * Weight a sample keeps each time a newer one is recorded, so the histogram follows a
   * rhythm that changes: 0.95 gives the last ~20 gaps most of the weight. Default 0.95.
   */
  decay?: number;
}

/** Rescale the weights before they overflow: new samples weigh `1 / decay` times the last one. */
const RESCALE_AT = 1e100;

/**
 * The idle times of one function (the gaps between its bursts) as a histogram of fixed
 * logarithmic bins, the input of the keep-alive policy (Shahrad et al., "Serverless in the
 * Wild", USENIX ATC 2020, keep one per application). Memory is bounded whatever the traffic:
 * ~180 bins from 5 s to 4 h of 5 % each (1.4 KiB), and older samples fade by `decay` so a
 * function whose rhythm changes is relearned within a few dozen gaps.
 *
 * Recording is O(1) and allocates nothing (older weights are not touched: each new sample
 * weighs more than the last, and everything is rescaled once in a long while); percentiles
 * walk the bins, which the autoscaler does once per tick.
 */
export class IdleHistogram {
  readonly minMs: number;
  readonly maxMs: number;
  #logRatio: number;
  #bins: Float64Array;
  /** Weight of everything longer than `maxMs`. */
  #over = 0;
  #total = 0;
  #weight = 1;
  #growth: number;
  #samples = 0;

  constructor(options: IdleHistogramOptions = {}) {
    this.minMs = options.minMs ?? DEFAULT_MIN_IDLE_MS;
    this.maxMs = options.maxMs ?? 4 * 3600_000;
    const ratio = options.binRatio ?? 1.05;
    const decay = options.decay ?? 0.95;
    if (!(this.minMs > 0 && this.maxMs > this.minMs && ratio > 1 && decay > 0 && decay <= 1)) throw new RangeError('bad idle histogram options');
    this.#logRatio = Math.log(ratio);
    this.#bins = new Float64Array(Math.ceil(Math.log(this.maxMs / this.minMs) / this.#logRatio));
    this.#growth = 1 / decay;
  }

  /** Records an idle time; pauses shorter than `minMs` are ignored. Returns whether it was kept. */
  record(ms: number): boolean {
    if (!(ms >= this.minMs)) return false;
    if (ms >= this.maxMs) this.#over += this.#weight;
    else {
      const i = Math.min(this.#bins.length - 1, Math.floor(Math.log(ms / this.minMs) / this.#logRatio));
      this.#bins[i] = this.#bins[i]! + this.#weight;
    }
    this.#total += this.#weight;
    this.#samples += 1;
    this.#weight *= this.#growth;
    if (this.#weight > RESCALE_AT) this.#rescale();
    return true;
  }

  /** Idle times recorded so far (however faded). */
  get samples(): number {
    return this.#samples;
  }

  /**
   * The idle time below which a share `q` (0..1) of the weighted samples lie (samples are
   * taken as spread evenly inside their bin); `Infinity` when it lies beyond `maxMs`, null
   * when empty.
   */
  percentile(q: number): number | null {
    if (this.#total === 0) return null;
    const target = Math.min(1, Math.max(0, q)) * this.#total;
    let below = 0;
    for (let i = 0; i < this.#bins.length; i++) {
      const w = this.#bins[i]!;
      if (w > 0 && below + w >= target) {
        const lo = this.#edge(i);
        return lo + ((target - below) / w) * (this.#edge(i + 1) - lo);
      }
      below += w;
    }
    return Infinity;
  }

  /** The weighted share of idle times shorter than `ms` (0 when empty). */
  share(ms: number): number {
    if (this.#total === 0) return 0;
    let below = 0;
    for (let i = 0; i < this.#bins.length; i++) {
      const lo = this.#edge(i);
      if (lo >= ms) break;
      const hi = this.#edge(i + 1);
      below += this.#bins[i]! * (hi <= ms ? 1 : (ms - lo) / (hi - lo));
    }
    return below / this.#total;
  }

  /**
   * The weighted mean of `min(idle time, ms)`: how long a container held from the start of
   * each pause until `ms` would have lived, on average (0 when empty).
   */
  meanCapped(ms: number): number {
    if (this.#total === 0) return 0;
    let sum = this.#over * Math.min(ms, this.maxMs);
    for (let i = 0; i < this.#bins.length; i++) {
      const w = this.#bins[i]!;
      if (w === 0) continue;
      const lo = this.#edge(i);
      const hi = this.#edge(i + 1);
      if (hi <= ms) sum += (w * (lo + hi)) / 2;
      else if (lo >= ms) sum += w * ms;
      else {
        const inside = (ms - lo) / (hi - lo);
        sum += w * (inside * ((lo + ms) / 2) + (1 - inside) * ms);
      }
    }
    return sum / this.#total;
  }

  /** The lower edge of bin `i` (the last bin ends at `maxMs`). */
  #edge(i: number): number {
    return i >= this.#bins.length ? this.maxMs : this.minMs * Math.exp(i * this.#logRatio);
  }

  #rescale(): void {
    const k = 1 / this.#weight;
    for (let i = 0; i < this.#bins.length; i++) this.#bins[i] = this.#bins[i]! * k;
    this.#over *= k;
    this.#total *= k;
    this.#weight = 1;
  }
}
