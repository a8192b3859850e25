import type { Clock } from '../support/clock.js';

/** One piece of what a container printed outside any invocation. */
export interface ContainerOutputEntry {
  /** When the runtime received it (ISO 8601). */
  time: string;
  /** The Docker id of the container that printed it. */
  container: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** Bounds of what is kept per function, in memory only. */
export interface ContainerOutputLimits {
  maxCharsPerFunction: number;
  maxEntriesPerFunction: number;
}

export const DEFAULT_CONTAINER_OUTPUT_LIMITS: ContainerOutputLimits = { maxCharsPerFunction: 256 * 1024, maxEntriesPerFunction: 2000 };

interface Tail {
  entries: ContainerOutputEntry[];
  chars: number;
}

/**
 * What each function's containers printed outside invocations (at module load, in background
 * timers), as `GET /logs/:name?container=1` shows it: a tail per function bounded in characters
 * and entries, each entry naming its container, so the last words of a container that was
 * replaced stay readable. Kept in memory: a restart starts empty; a deleted function's goes.
 */
export class ContainerOutput {
  #tails = new Map<string, Tail>();
  #clock: Pick<Clock, 'now'>;
  #limits: ContainerOutputLimits;

  constructor(options: { clock: Pick<Clock, 'now'>; limits?: ContainerOutputLimits }) {
    this.#clock = options.clock;
    this.#limits = options.limits ?? DEFAULT_CONTAINER_OUTPUT_LIMITS;
  }

  /** Keeps one piece of output; the oldest go past the bounds. */
  append(functionName: string, container: string, stream: 'stdout' | 'stderr', text: string): void {
    if (text === '') return;
    let tail = this.#tails.get(functionName);
    if (!tail) {
      tail = { entries: [], chars: 0 };
      this.#tails.set(functionName, tail);
    }
    const kept = text.length > this.#limits.maxCharsPerFunction ? text.slice(-this.#limits.maxCharsPerFunction) : text;
    tail.entries.push({ time: new Date(this.#clock.now()).toISOString(), container, stream, text: kept });
    tail.chars += kept.length;
    while (tail.entries.length > this.#limits.maxEntriesPerFunction || tail.chars > this.#limits.maxCharsPerFunction) {
      tail.chars -= tail.entries.shift()!.text.length;
    }
  }

  /** The newest `limit` entries of a function, oldest first. */
  read(functionName: string, limit: number): ContainerOutputEntry[] {
    const entries = this.#tails.get(functionName)?.entries ?? [];
    return entries.slice(Math.max(0, entries.length - limit));
  }

  /** Drops a deleted function's output. */
  forget(functionName: string): void {
    this.#tails.delete(functionName);
  }
}
