import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { CANCEL_GRACE_MS, CancelledStreams } from './cancelled-streams.js';
import { ResponseStream, type StreamEnd } from './response-stream.js';

const control = { credit: () => undefined, cancel: () => undefined };
const END = { error: null, stdout: 'printed\n', stderr: '', durationMs: 2 };

function cancelledStream(id: number): { stream: ResponseStream; ends: StreamEnd[] } {
  const stream = new ResponseStream(id, 200, {}, control);
  const ends: StreamEnd[] = [];
  stream.onEnd((end) => ends.push(end));
  stream.cancel('the client went away');
  return { stream, ends };
}

describe('CancelledStreams', () => {
  it("ends a stream with its worker's end, or without logs after the grace, then tolerates its late end once", () => {
    const clock = new FakeClock();
    const cancelled = new CancelledStreams(clock);
    const a = cancelledStream(1);
    const b = cancelledStream(2);
    cancelled.add(1, a.stream);
    cancelled.add(2, b.stream);
    expect(cancelled.end(1, END)).toBe(true);
    expect(a.ends).toMatchObject([{ error: 'the client went away', stdout: 'printed\n' }]);
    clock.advance(CANCEL_GRACE_MS);
    expect(b.ends).toMatchObject([{ error: 'the client went away', stdout: '' }]);
    expect(cancelled.size).toBe(0);
    expect(cancelled.owns(2)).toBe(true);
    expect(cancelled.end(2, END)).toBe(true);
    // Once is all: a second end, or an end of a stream never cancelled, is the caller's violation.
    expect(cancelled.end(2, END)).toBe(false);
    expect(cancelled.end(3, END)).toBe(false);
  });

  it('keeps nothing for ever of a worker that never ends its cancelled streams', () => {
    const clock = new FakeClock();
    const cancelled = new CancelledStreams(clock);
    for (let id = 1; id <= 1000; id++) cancelled.add(id, cancelledStream(id).stream);
    clock.advance(CANCEL_GRACE_MS);
    expect(cancelled.size).toBe(0);
    expect(cancelled.owns(1)).toBe(false);
    expect(cancelled.owns(1000)).toBe(true);
    expect([...Array(1000).keys()].filter((i) => cancelled.owns(i + 1)).length).toBe(256);
  });
});
