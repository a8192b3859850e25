/**
 * A streamed response body as the worker reads it: pulled one chunk at a time, only when the
 * stream has credits (worker/stream-out.ts), so a slow client slows the handler instead of
 * filling memory. The three shapes a handler may return (a Node `Readable`, a WHATWG
 * `ReadableStream`, any async iterable of strings or bytes) and Lambda's response stream (a
 * Writable the handler writes to, {@link PushSource}) all become a {@link BodySource}.
 */
import { Readable, Writable } from 'node:stream';

/** Pulls a streamed body. */
export interface BodySource {
  /** The next bytes, or null at the end; rejects when the handler's stream failed. */
  next(): Promise<Buffer | null>;
  /** Stops the stream at once (the client went away): its cancel/destroy/return runs. */
  cancel(reason: Error): void;
}

/**
 * Per invocation: the `AbortSignal` a handler may watch (made only when asked for, since
 * buffered invocations never need it) and whether the runtime cancelled the response.
 */
export class Cancellation {
  #controller: AbortController | undefined;
  #reason: Error | undefined;

  /** Aborted when the runtime cancels the invocation's response. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#reason !== undefined && !this.#controller.signal.aborted) this.#controller.abort(this.#reason);
    return this.#controller.signal;
  }

  get cancelled(): boolean {
    return this.#reason !== undefined;
  }

  cancel(reason: Error): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** True for a body the glambdar interface streams: a Readable, a ReadableStream, or an async iterable. */
export function isStreamBody(body: unknown): boolean {
  return body !== null && typeof body === 'object' && typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
    ? true
    : isReadableStream(body);
}

function isReadableStream(body: unknown): body is ReadableStream<unknown> {
  return body !== null && typeof body === 'object' && typeof (body as { getReader?: unknown }).getReader === 'function';
}

/** The source that reads `body` (one {@link isStreamBody} accepted). */
export function bodySource(body: unknown): BodySource {
  if (isReadableStream(body)) return readerSource(body.getReader());
  if (body instanceof Readable) return readableSource(body);
  return iteratorSource((body as AsyncIterable<unknown>)[Symbol.asyncIterator]());
}

/**
 * A WHATWG stream through its reader: `reader.cancel()` ends a pending read at once and runs
 * the stream's own cancel, where an iterator's `return()` would wait for that read.
 */
export function readerSource(reader: ReadableStreamDefaultReader<unknown>): BodySource {
  return {
    async next() {
      const { done, value } = await reader.read();
      return done ? null : toBytes(value);
    },
    cancel(reason) {
      void reader.cancel(reason).catch(() => undefined);
    },
  };
}

function readableSource(readable: Readable): BodySource {
  const iterator = readable[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  return {
    async next() {
      const step = await iterator.next();
      return step.done === true ? null : toBytes(step.value);
    },
    cancel(reason) {
      readable.destroy(reason);
    },
  };
}

function iteratorSource(iterator: AsyncIterator<unknown>): BodySource {
  return {
    async next() {
      const step = await iterator.next();
      return step.done === true ? null : toBytes(step.value);
    },
    cancel() {
      // A generator waiting in an await finishes that step first: the request's signal is the prompt way.
      void Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => undefined);
    },
  };
}

/** A chunk as bytes: strings as UTF-8, any typed array or ArrayBuffer as its bytes. */
export function toBytes(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  throw new TypeError(`a streamed body yielded ${value === null ? 'null' : typeof value}: expected strings or bytes`);
}

/**
 * A Writable the handler writes to, read as a {@link BodySource}: a write completes (its
 * callback runs) only when the worker has taken its chunk, so a handler that respects
 * backpressure (`pipeline`, awaiting `drain`) is held at the client's pace, and at most the
 * Writable's high-water mark waits in memory. `onStart` runs at the first write or the end,
 * whichever comes first: the moment the response's head can leave.
 */
export class PushSource extends Writable implements BodySource {
  #queue: Array<{ chunk: Buffer; done: (err?: Error | null) => void }> = [];
  #ended = false;
  #failure: Error | null = null;
  #waiter: { resolve: (chunk: Buffer | null) => void; reject: (err: Error) => void } | null = null;
  #started = false;
  onStart: () => void = () => undefined;

  override _write(chunk: unknown, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#start();
    const bytes = toBytes(chunk);
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve(bytes);
      done();
      return;
    }
    this.#queue.push({ chunk: bytes, done });
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#start();
    this.#ended = true;
    this.#settle();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (err) this.fail(err);
    else if (!this.#ended) this.fail(new Error('the response stream was destroyed before it ended'));
    for (const item of this.#queue.splice(0)) item.done(err);
    done(err);
  }

  /** The handler failed: the reader's next pull rejects. */
  fail(err: Error): void {
    if (this.#ended || this.#failure) return;
    this.#failure = err;
    this.#start();
    this.#settle();
  }

  /** Marks the end without a write (the handler returned without ending the stream). */
  finish(): void {
    if (this.#ended || this.#failure) return;
    if (!this.writableEnded) this.end();
  }

  next(): Promise<Buffer | null> {
    const item = this.#queue.shift();
    if (item) {
      item.done();
      return Promise.resolve(item.chunk);
    }
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  /** Destroyed without an error: a handler with no 'error' listener must not crash on its client leaving. */
  cancel(reason: Error): void {
    this.#failure ??= reason;
    this.#settle();
    this.destroy();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.onStart();
  }

  #settle(): void {
    const waiter = this.#waiter;
    if (!waiter || this.#queue.length > 0) return;
    this.#waiter = null;
    if (this.#failure) waiter.reject(this.#failure);
    else if (this.#ended) waiter.resolve(null);
  }
}
