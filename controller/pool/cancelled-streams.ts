import type { Clock, TimerHandle } from '../support/clock.js';
import type { ResponseStream } from './response-stream.js';

/**
 * How long a cancelled stream's end frame is awaited (a worker sends it at once, with the
 * handler's logs so far); a worker stuck past it leaves the stream ended without them.
 */
export const CANCEL_GRACE_MS = 1000;

/** Abandoned stream ids remembered per connection. */
const MAX_ABANDONED = 256;

/**
 * The streams one connection cancelled, until the worker's end frame for each: their late
 * chunks are dropped, and the end gives the stream the handler's logs. One whose end does not
 * come within {@link CANCEL_GRACE_MS} is abandoned (it ends without them); a late end or chunk
 * of it is still no violation, for the last {@link MAX_ABANDONED} of them, so a worker that
 * never ends its cancelled streams makes the runtime keep nothing.
 */
export class CancelledStreams {
  #clock: Clock;
  #waiting = new Map<number, { stream: ResponseStream; grace: TimerHandle }>();
  #abandoned = new Set<number>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Streams whose end is awaited. */
  get size(): number {
    return this.#waiting.size;
  }

  add(id: number, stream: ResponseStream): void {
    const grace = this.#clock.setTimeout(() => {
      this.#waiting.delete(id);
      this.#abandoned.add(id);
      if (this.#abandoned.size > MAX_ABANDONED) this.#abandoned.delete(this.#abandoned.values().next().value!);
      stream.abandon();
    }, CANCEL_GRACE_MS);
    this.#waiting.set(id, { stream, grace });
  }

  /** Whether a chunk of `id` is one of a cancelled stream (dropped, no violation). */
  owns(id: number): boolean {
    return this.#waiting.has(id) || this.#abandoned.has(id);
  }

  /** The worker's end of stream `id`; false when no cancelled stream had that id. */
  end(id: number, frame: { error: string | null; stdout: string; stderr: string; durationMs: number }): boolean {
    const waiting = this.#waiting.get(id);
    if (!waiting) return this.#abandoned.delete(id);
    this.#waiting.delete(id);
    this.#clock.clearTimeout(waiting.grace);
    waiting.stream.finish(frame);
    return true;
  }

  /** The connection is gone: every stream still awaited ends with it. */
  failAll(reason: string): void {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    this.#abandoned.clear();
    for (const { stream, grace } of waiting) {
      this.#clock.clearTimeout(grace);
      stream.fail(reason);
    }
  }
}
