import { STREAM_WINDOW_BYTES } from '../../worker/protocol.js';

/**
 * The runtime's side of one streamed response (docs/design.md "Streaming"): chunks from the
 * worker go to a sink (the client's HTTP response) as they arrive, and credits go back to the
 * worker as the sink takes them. The worker may have at most the window unacknowledged, and a
 * chunk is acknowledged only once the sink accepted it below its high-water mark (or drained
 * it), so the runtime holds at most one window per stream, however slow the client.
 */

/** Where a stream's bytes go: the HTTP response, or a collector. */
export interface StreamSink {
  /** Takes one chunk; false means full: call {@link ResponseStream.drained} when it has room again. */
  write(chunk: Buffer): boolean;
  /** The stream is over: whole (`error` null), or broken off (the client must see it truncated). */
  end(error: string | null): void;
}

/** How a stream ended, for the invocation record. */
export interface StreamEnd {
  /** Null when whole; else why it broke off (handler threw, cancelled, timed out, container died). */
  error: string | null;
  stdout: string;
  stderr: string;
  /** The handler's time as the worker measured it; null when the worker never said (cancelled, died). */
  durationMs: number | null;
  /** Body bytes handed to the sink. */
  bytes: number;
}

/** What a stream asks of its connection: frames to the worker. */
export interface StreamControl {
  credit(id: number, bytes: number): void;
  /** Stop the handler's stream; the connection ignores its late frames until its end. */
  cancel(id: number): void;
}

/** Credits are returned in batches of at least this many bytes (a quarter of the window). */
export const CREDIT_BATCH_BYTES = STREAM_WINDOW_BYTES / 4;

/** One streamed response in the runtime: what `WorkerClient` feeds and a sink drains, with its credits. */
export class ResponseStream {
  readonly id: number;
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly #control: StreamControl;
  readonly #window: number;
  /** Chunks that came before a sink was attached (never more than the window). */
  #queue: Buffer[] = [];
  #sink: StreamSink | null = null;
  /** Bytes the worker may still send without a new credit. */
  #outstanding: number;
  /** Bytes the sink took and the worker has not been credited for yet. */
  #toGrant = 0;
  /** Bytes written while the sink was full: credited once it drains. */
  #held = 0;
  #full = false;
  #bytes = 0;
  #end: StreamEnd | null = null;
  /** Why it was cancelled, while the worker's end frame (with the handler's logs) is awaited. */
  #cancelledWith: string | null = null;
  #listeners: Array<(end: StreamEnd) => void> = [];

  constructor(id: number, statusCode: number, headers: Record<string, string | string[]>, control: StreamControl, window = STREAM_WINDOW_BYTES) {
    this.id = id;
    this.statusCode = statusCode;
    this.headers = headers;
    this.#control = control;
    this.#window = window;
    this.#outstanding = window;
  }

  /** Body bytes handed to the sink so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once the stream ended, whichever way, or was cancelled (its record may still wait for the worker's end). */
  get ended(): boolean {
    return this.#end !== null || this.#cancelledWith !== null;
  }

  /** Bytes the worker may still send now. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Bytes waiting for a sink. */
  get queued(): number {
    let n = 0;
    for (const chunk of this.#queue) n += chunk.length;
    return n;
  }

  /** Runs `listener` once the stream has ended (at once if it has). */
  onEnd(listener: (end: StreamEnd) => void): void {
    if (this.#end) listener(this.#end);
    else this.#listeners.push(listener);
  }

  /** Starts delivering to `sink`: first what was queued, then each chunk as it comes. */
  attach(sink: StreamSink): void {
    if (this.#sink) throw new Error('a stream has one sink');
    this.#sink = sink;
    const queued = this.#queue;
    this.#queue = [];
    for (const chunk of queued) this.#deliver(sink, chunk);
    this.#grant();
    if (this.#end) sink.end(this.#end.error);
    else if (this.#cancelledWith !== null) sink.end(this.#cancelledWith);
  }

  /** The sink has room again: what it held is credited. */
  drained(): void {
    if (!this.#full) return;
    this.#full = false;
    this.#toGrant += this.#held;
    this.#held = 0;
    this.#grant();
  }

  /**
   * A chunk from the worker. Returns why it breaks the protocol (more than its credits), or
   * null. Chunks of a stream that already ended here (cancelled) are dropped.
   */
  push(chunk: Buffer): string | null {
    this.#outstanding -= chunk.length;
    if (this.#outstanding < 0) return `sent ${-this.#outstanding} bytes of stream ${this.id} beyond its credits`;
    if (this.ended) return null;
    if (this.#sink) {
      this.#deliver(this.#sink, chunk);
      this.#grant();
    } else this.#queue.push(chunk);
    return null;
  }

  /** The worker's end frame: after a cancel too, when it carries what the handler printed until then. */
  finish(end: { error: string | null; stdout: string; stderr: string; durationMs: number }): void {
    this.#settle({ error: this.#cancelledWith ?? end.error, stdout: end.stdout, stderr: end.stderr, durationMs: end.durationMs, bytes: this.#bytes });
  }

  /**
   * The client went away or the time is up: the handler's stream is cancelled and the client's
   * response ends broken off now. The stream's end (its record, its slot) waits for the
   * worker's end frame, which a worker sends at once with the handler's logs so far: a
   * disconnected client is how most event streams end, and their logs belong in the record.
   */
  cancel(reason: string): void {
    if (this.ended) return;
    this.#cancelledWith = reason;
    this.#control.cancel(this.id);
    this.#queue = [];
    this.#sink?.end(reason);
  }

  /** A cancelled stream whose worker never sent its end: it ends without the handler's logs. */
  abandon(): void {
    if (this.#cancelledWith !== null) this.#settle({ error: this.#cancelledWith, stdout: '', stderr: '', durationMs: null, bytes: this.#bytes });
  }

  /** The connection failed under the stream (after a cancel, the cancel stays the reason). */
  fail(reason: string): void {
    this.#settle({ error: this.#cancelledWith ?? reason, stdout: '', stderr: '', durationMs: null, bytes: this.#bytes });
  }

  #deliver(sink: StreamSink, chunk: Buffer): void {
    this.#bytes += chunk.length;
    const room = sink.write(chunk);
    if (this.#full) this.#held += chunk.length;
    else if (room) this.#toGrant += chunk.length;
    else {
      this.#full = true;
      this.#held += chunk.length;
    }
  }

  #grant(): void {
    if (this.#end || this.#toGrant < Math.min(CREDIT_BATCH_BYTES, this.#window)) return;
    const bytes = this.#toGrant;
    this.#toGrant = 0;
    this.#outstanding += bytes;
    this.#control.credit(this.id, bytes);
  }

  #settle(end: StreamEnd): void {
    if (this.#end) return;
    this.#end = end;
    this.#queue = [];
    // A cancelled stream's sink was ended by the cancel.
    if (this.#cancelledWith === null) this.#sink?.end(end.error);
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener(end);
  }
}

/**
 * Reads a stream to its end where no client waits (an async job): keeps its first `keepBytes`
 * bytes and counts the rest, crediting the worker as it goes. Resolves with the stream's error
 * (null when whole) too.
 */
export function drainStream(stream: ResponseStream, keepBytes: number): Promise<{ head: Buffer; size: number; error: string | null }> {
  return new Promise((resolve) => {
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let size = 0;
    stream.attach({
      write(chunk) {
        size += chunk.length;
        if (keptBytes < keepBytes) {
          const part = chunk.subarray(0, keepBytes - keptBytes);
          kept.push(Buffer.from(part));
          keptBytes += part.length;
        }
        return true;
      },
      end(error) {
        resolve({ head: Buffer.concat(kept, keptBytes), size, error });
      },
    });
  });
}
