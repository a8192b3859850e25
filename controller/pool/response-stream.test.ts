import { describe, expect, it } from 'vitest';
import { CREDIT_BATCH_BYTES, drainStream, ResponseStream, type StreamControl, type StreamEnd, type StreamSink } from './response-stream.js';
import { STREAM_WINDOW_BYTES } from '../../worker/protocol.js';

/** The connection's side: records the frames the stream asks for. */
class FakeControl implements StreamControl {
  credits: number[] = [];
  cancelled: number[] = [];
  credit(_id: number, bytes: number): void {
    this.credits.push(bytes);
  }
  cancel(id: number): void {
    this.cancelled.push(id);
  }
  get granted(): number {
    return this.credits.reduce((a, b) => a + b, 0);
  }
}

/** A client with a buffer of `room` bytes: it reports full beyond it until `drain()`. */
class FakeSink implements StreamSink {
  received: Buffer[] = [];
  buffered = 0;
  ended: Array<string | null> = [];
  constructor(readonly room: number) {}
  write(chunk: Buffer): boolean {
    this.received.push(chunk);
    this.buffered += chunk.length;
    return this.buffered < this.room;
  }
  end(error: string | null): void {
    this.ended.push(error);
  }
  /** The client read everything buffered. */
  drain(stream: ResponseStream): void {
    this.buffered = 0;
    stream.drained();
  }
}

const KiB = 1024;
const chunk = (size: number) => Buffer.alloc(size, 1);

describe('ResponseStream flow control', () => {
  it('credits the worker for what the client took, in batches, so a fast client never stalls it', () => {
    const control = new FakeControl();
    const stream = new ResponseStream(1, 200, {}, control);
    const sink = new FakeSink(Infinity);
    stream.attach(sink);
    for (let i = 0; i < 64; i++) expect(stream.push(chunk(16 * KiB))).toBeNull();
    expect(control.granted).toBe(64 * 16 * KiB);
    expect(control.credits.every((c) => c >= CREDIT_BATCH_BYTES)).toBe(true);
    expect(stream.outstanding).toBe(STREAM_WINDOW_BYTES);
  });

  it('grants nothing while the client is full, and what it held once it drains', () => {
    const control = new FakeControl();
    const stream = new ResponseStream(1, 200, {}, control);
    const sink = new FakeSink(16 * KiB);
    stream.attach(sink);
    for (let i = 0; i < STREAM_WINDOW_BYTES / (32 * KiB); i++) stream.push(chunk(32 * KiB));
    // The whole window is out and unacknowledged: the worker cannot send another byte.
    expect(control.granted).toBe(0);
    expect(stream.outstanding).toBe(0);
    sink.drain(stream);
    expect(control.granted).toBe(STREAM_WINDOW_BYTES);
    expect(stream.outstanding).toBe(STREAM_WINDOW_BYTES);
  });

  it('bounds what a slow client makes the runtime hold to one window, however long the stream', () => {
    const control = new FakeControl();
    const stream = new ResponseStream(1, 200, {}, control);
    const sink = new FakeSink(16 * KiB);
    stream.attach(sink);
    let maxHeld = 0;
    let sent = 0;
    // A worker that sends whenever it has credits, a client that drains every fourth step.
    for (let step = 0; step < 2000; step++) {
      while (stream.outstanding >= 8 * KiB) {
        expect(stream.push(chunk(8 * KiB))).toBeNull();
        sent += 8 * KiB;
      }
      maxHeld = Math.max(maxHeld, sink.buffered);
      if (step % 4 === 0) sink.drain(stream);
    }
    expect(sent).toBeGreaterThan(100 * 1024 * KiB);
    expect(maxHeld).toBeLessThanOrEqual(STREAM_WINDOW_BYTES);
  });

  it('calls a chunk beyond the credits a protocol violation', () => {
    const stream = new ResponseStream(9, 200, {}, new FakeControl(), 64 * KiB);
    expect(stream.push(chunk(64 * KiB))).toBeNull();
    expect(stream.push(chunk(1))).toMatch(/1 bytes of stream 9 beyond its credits/);
  });

  it('queues chunks that come before a sink (at most the window), then delivers them in order', () => {
    const control = new FakeControl();
    const stream = new ResponseStream(1, 200, {}, control);
    stream.push(Buffer.from('a'));
    stream.push(Buffer.from('b'));
    expect(stream.queued).toBe(2);
    expect(control.granted).toBe(0);
    const sink = new FakeSink(Infinity);
    stream.attach(sink);
    expect(Buffer.concat(sink.received).toString()).toBe('ab');
    expect(stream.queued).toBe(0);
  });

  it('ends the sink whole with the worker end, and tells its listeners the bytes and logs', () => {
    const stream = new ResponseStream(1, 200, {}, new FakeControl());
    const sink = new FakeSink(Infinity);
    stream.attach(sink);
    const ends: StreamEnd[] = [];
    stream.onEnd((end) => ends.push(end));
    stream.push(chunk(10));
    stream.finish({ error: null, stdout: 'out', stderr: '', durationMs: 12 });
    expect(sink.ended).toEqual([null]);
    expect(ends).toEqual([{ error: null, stdout: 'out', stderr: '', durationMs: 12, bytes: 10 }]);
  });

  it('breaks the sink off when the handler failed midway', () => {
    const stream = new ResponseStream(1, 200, {}, new FakeControl());
    const sink = new FakeSink(Infinity);
    stream.attach(sink);
    stream.finish({ error: 'boom', stdout: '', stderr: '', durationMs: 1 });
    expect(sink.ended).toEqual(['boom']);
  });

  it('cancels once: asks the worker to stop, ends the client now, drops late chunks, and ends with the logs of the worker\'s end', () => {
    const control = new FakeControl();
    const stream = new ResponseStream(4, 200, {}, control);
    const sink = new FakeSink(Infinity);
    stream.attach(sink);
    const ends: StreamEnd[] = [];
    stream.onEnd((end) => ends.push(end));
    stream.push(chunk(5));
    stream.cancel('the client went away');
    stream.cancel('again');
    expect(control.cancelled).toEqual([4]);
    expect(sink.ended).toEqual(['the client went away']);
    expect(stream.ended).toBe(true);
    // The record waits for the worker's end, which carries what the handler printed.
    expect(ends).toEqual([]);
    expect(stream.push(chunk(CREDIT_BATCH_BYTES))).toBeNull();
    expect(sink.received.length).toBe(1);
    expect(control.granted).toBe(0);
    stream.finish({ error: 'the stream was cancelled', stdout: 'tick 1\n', stderr: 'bye\n', durationMs: 3 });
    expect(ends).toEqual([{ error: 'the client went away', stdout: 'tick 1\n', stderr: 'bye\n', durationMs: 3, bytes: 5 }]);
    expect(sink.ended).toEqual(['the client went away']);
    stream.abandon();
    expect(ends.length).toBe(1);
  });

  it('ends a cancelled stream without logs when its worker never sends the end, or its connection fails', () => {
    for (const settle of [(s: ResponseStream) => s.abandon(), (s: ResponseStream) => s.fail('the function container died')]) {
      const stream = new ResponseStream(4, 200, {}, new FakeControl());
      stream.attach(new FakeSink(Infinity));
      const ends: StreamEnd[] = [];
      stream.onEnd((end) => ends.push(end));
      stream.cancel('timed out');
      settle(stream);
      expect(ends).toEqual([{ error: 'timed out', stdout: '', stderr: '', durationMs: null, bytes: 0 }]);
    }
  });

  it('fails with the connection', () => {
    const stream = new ResponseStream(1, 200, {}, new FakeControl());
    const sink = new FakeSink(Infinity);
    stream.attach(sink);
    stream.fail('the function container died');
    expect(sink.ended).toEqual(['the function container died']);
  });

  it('drains a stream with no client, keeping its start and counting the rest', async () => {
    const control = new FakeControl();
    const stream = new ResponseStream(1, 200, {}, control);
    const read = drainStream(stream, 4);
    stream.push(Buffer.from('hello '));
    stream.push(Buffer.alloc(CREDIT_BATCH_BYTES));
    stream.finish({ error: null, stdout: '', stderr: '', durationMs: 1 });
    expect(await read).toEqual({ head: Buffer.from('hell'), size: 6 + CREDIT_BATCH_BYTES, error: null });
    expect(control.granted).toBe(6 + CREDIT_BATCH_BYTES);
  });
});
