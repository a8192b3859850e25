/**
 * The worker's side of one streamed response: sends its head, then its body in chunk frames
 * no larger than {@link STREAM_CHUNK_BYTES} and never beyond the credits the runtime granted
 * (it starts with {@link STREAM_WINDOW_BYTES}), then its end. The body is pulled from the
 * handler's stream only while credits remain, so the worker holds at most one chunk of a
 * stream whose client is slow.
 */
import type { BodySource, Cancellation } from './body-source.js';
import { STREAM_CHUNK_BYTES, STREAM_WINDOW_BYTES, type ChunkHeader } from './protocol.js';
import type { IdTable } from './id-table.js';

/** Where a stream's frames go (the connection's FrameWriter). */
export type SendFrame = (header: unknown, body?: Buffer) => void;

/** One streamed response of the worker: its credits, and the pump that spends them. */
export class StreamOut {
  readonly id: number;
  #send: SendFrame;
  #credits: number;
  #wake: (() => void) | null = null;
  #cancelled: Error | null = null;
  /** Settles a pull in progress when the stream is cancelled. */
  #onCancel: (() => void) | null = null;
  #chunkHeader: ChunkHeader;
  /** Body bytes sent so far. */
  bytes = 0;

  constructor(id: number, send: SendFrame, window = STREAM_WINDOW_BYTES) {
    this.id = id;
    this.#send = send;
    this.#credits = window;
    this.#chunkHeader = { t: 'chunk', id };
  }

  get credits(): number {
    return this.#credits;
  }

  /** Why the runtime cancelled the stream, or null. */
  get cancelled(): Error | null {
    return this.#cancelled;
  }

  /** The runtime granted `bytes` more. */
  grant(bytes: number): void {
    this.#credits += bytes;
    this.#wakeUp();
  }

  /** The runtime cancelled: a wait for credits ends, and nothing more is sent but the end. */
  cancel(reason: Error): void {
    if (this.#cancelled) return;
    this.#cancelled = reason;
    this.#wakeUp();
    this.#onCancel?.();
  }

  /** Resolves once there are credits (or the stream is cancelled). */
  ready(): Promise<void> {
    if (this.#credits > 0 || this.#cancelled) return Promise.resolve();
    return new Promise((resolve) => (this.#wake = resolve));
  }

  /** Sends `chunk`, in pieces as credits allow; resolves when all of it left (or on cancel). */
  async write(chunk: Buffer): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      await this.ready();
      if (this.#cancelled) return;
      const size = Math.min(chunk.length - at, this.#credits, STREAM_CHUNK_BYTES);
      this.#send(this.#chunkHeader, at === 0 && size === chunk.length ? chunk : chunk.subarray(at, at + size));
      this.#credits -= size;
      this.bytes += size;
      at += size;
    }
  }

  /** Pulls `source` to its end at the pace credits allow; rejects when it fails; cancels it on a cancel. */
  async pump(source: BodySource): Promise<void> {
    for (;;) {
      await this.ready();
      if (this.#cancelled) {
        source.cancel(this.#cancelled);
        return;
      }
      // A cancel does not wait for the pull (a generator may sit in an await for ever): the end leaves now.
      const chunk = await new Promise<Buffer | null>((resolve, reject) => {
        this.#onCancel = () => resolve(null);
        source.next().then(resolve, reject);
      });
      this.#onCancel = null;
      if (chunk === null || this.#cancelled) return;
      await this.write(chunk);
    }
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/** A streamed response in flight: what a credit or cancel frame reaches. */
export interface ActiveStream {
  out: StreamOut;
  cancellation: Cancellation;
  source: BodySource;
}

/** What an invocation needs to stream: the connection's frame writer and its table of streams. */
export interface StreamIO {
  send: SendFrame;
  streams: IdTable<ActiveStream>;
}

/** Cancels a stream at once: no more credits are waited for, the handler's signal aborts, its stream is cancelled. */
export function cancelStream(active: ActiveStream, reason: Error): void {
  if (active.out.cancelled) return;
  active.out.cancel(reason);
  active.cancellation.cancel(reason);
  active.source.cancel(reason);
}
