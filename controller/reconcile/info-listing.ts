import type { Clock } from '../support/clock.js';
import { InvalidInput } from '../support/errors.js';
import type { FunctionInfo } from './status.js';

/** One page of `GET /info`, as the Kubernetes list API pages: `continue` is null on the last page. */
export interface InfoPage {
  functions: readonly FunctionInfo[];
  /** Give it back as `?continue=` for the next page. */
  continue: string | null;
  /** Functions after this page. */
  remaining: number;
}

/** How a listing is asked for: at most `limit` functions, after the page `continue` ended. */
export interface ListOptions {
  limit?: number;
  continue?: string;
}

interface Snapshot {
  builtAt: number;
  version: number;
  infos: readonly FunctionInfo[];
}

/** The `continue` token of a page ending at `name`: opaque to callers. */
function tokenAfter(name: string): string {
  return Buffer.from(JSON.stringify({ after: name })).toString('base64url');
}

function nameAfter(token: string): string {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof decoded.after === 'string') return decoded.after;
  } catch {
    // not ours
  }
  throw new InvalidInput('invalid query: continue: not a token a previous page of GET /info gave');
}

/**
 * `GET /info` for many functions without stalling the invoke path: every function's
 * FunctionInfo is built into a snapshot at most once per `maxAgeMs` (and again after any
 * desired-state write, so a deploy shows at once), shared by every reader, and read in pages.
 * Counts and status in a listing may be up to `maxAgeMs` old; `GET /info/:name` is live.
 */
export class InfoListing {
  #build: () => FunctionInfo[];
  #clock: Pick<Clock, 'monotonic'>;
  #maxAgeMs: number;
  #snapshot: Snapshot | null = null;
  #version = 0;

  constructor(options: { build: () => FunctionInfo[]; clock: Pick<Clock, 'monotonic'>; maxAgeMs?: number }) {
    this.#build = options.build;
    this.#clock = options.clock;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
  }

  /** A desired-state write happened: the next read builds a new snapshot. */
  changed(): void {
    this.#version += 1;
  }

  /** Every function, by name: the same array until the snapshot is rebuilt. */
  all(): readonly FunctionInfo[] {
    const now = this.#clock.monotonic();
    const current = this.#snapshot;
    if (current && current.version === this.#version && now - current.builtAt < this.#maxAgeMs) return current.infos;
    const infos = this.#build();
    this.#snapshot = { builtAt: now, version: this.#version, infos };
    return infos;
  }

  /** One page: functions named after the token's, at most `limit` of them. */
  page(options: ListOptions): InfoPage {
    const infos = this.all();
    let start = 0;
    if (options.continue !== undefined) {
      const after = nameAfter(options.continue);
      // Names are sorted: the first one past `after` (a function created since is included if it sorts later).
      let lo = 0;
      let hi = infos.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (infos[mid]!.name <= after) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const end = options.limit === undefined ? infos.length : Math.min(infos.length, start + options.limit);
    const functions = start === 0 && end === infos.length ? infos : infos.slice(start, end);
    const remaining = infos.length - end;
    return { functions, continue: remaining > 0 ? tokenAfter(infos[end - 1]!.name) : null, remaining };
  }
}
