/** The most seconds a window keeps: the 15 minutes the runtime keeps. */
export const WINDOW_SECONDS = 900;

/** Columns of a per-second series as the runtime sends them: `time` and named columns of the same length. */
export type Columns<K extends string> = { time: number[] } & Record<K, Array<number | null>>;

/**
 * The last 15 minutes of per-second series in the browser: the first poll brings them all,
 * each later poll only the last few seconds, merged here (a second sent again replaces what
 * was there: the last ones fill in as the runtime's tick samples them).
 */
export class RollingWindow<K extends string> {
  readonly time: number[] = [];
  readonly columns: Record<K, Array<number | null>>;

  constructor(readonly keys: readonly K[]) {
    this.columns = Object.fromEntries(keys.map((k) => [k, []])) as unknown as Record<K, Array<number | null>>;
  }

  /** The last second held, or null when empty. */
  get last(): number | null {
    return this.time.length === 0 ? null : this.time[this.time.length - 1]!;
  }

  /**
   * Where charts of this window start: `rangeSeconds` before the last second, but not before
   * `key` has its first value (the function's or runtime's first sample), and never less than a minute.
   */
  chartStart(key: K, rangeSeconds: number): number {
    const last = this.last ?? 0;
    const column = this.columns[key];
    let first = this.time[0] ?? last;
    for (let i = 0; i < column.length; i++) {
      if (column[i] !== null && column[i] !== undefined) {
        first = this.time[i]!;
        break;
      }
    }
    return Math.min(last - 59, Math.max(first, last - rangeSeconds + 1));
  }

  /** How many seconds the next poll should ask for, so that nothing is missed after a pause. */
  secondsToAsk(nowSeconds: number): number {
    const last = this.last;
    if (last === null) return WINDOW_SECONDS;
    return Math.max(5, Math.min(WINDOW_SECONDS, Math.ceil(nowSeconds - last) + 3));
  }

  /** Merges a poll's columns: replaces the seconds held, appends the new ones (gaps as nulls), drops what is past 15 minutes. */
  merge(data: Columns<K>): void {
    for (let i = 0; i < data.time.length; i++) {
      const t = data.time[i]!;
      const last = this.last;
      if (last !== null && t <= last) {
        const at = t - this.time[0]!;
        if (at < 0) continue;
        for (const k of this.keys) this.columns[k][at] = data[k][i] ?? null;
        continue;
      }
      if (last !== null) {
        for (let gap = last + 1; gap < t; gap++) {
          this.time.push(gap);
          for (const k of this.keys) this.columns[k].push(null);
        }
      }
      this.time.push(t);
      for (const k of this.keys) this.columns[k].push(data[k][i] ?? null);
    }
    const extra = this.time.length - WINDOW_SECONDS;
    if (extra > 0) {
      this.time.splice(0, extra);
      for (const k of this.keys) this.columns[k].splice(0, extra);
    }
  }
}

/**
 * Runs `task` now and then every `intervalMs` after each run ends (never two at once), until
 * `stop`. A failed run is reported and the polling goes on. While the tab is hidden nothing
 * runs (the next run after it asks for what it missed).
 */
export function poll(intervalMs: number, task: () => Promise<void>, onError: (err: unknown) => void): { stop(): void } {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const run = async () => {
    try {
      if (typeof document === 'undefined' || !document.hidden) await task();
    } catch (err) {
      if (!stopped) onError(err);
    }
    if (!stopped) timer = setTimeout(() => void run(), intervalMs);
  };
  void run();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
