import { describe, expect, it } from 'vitest';
import { StreamOut } from './stream-out.js';
import type { BodySource } from './body-source.js';
import { STREAM_CHUNK_BYTES } from './protocol.js';

/** Frames the stream sent, as the connection's writer would get them. */
function recorder(): { frames: Array<{ header: unknown; body?: Buffer }>; send: (header: unknown, body?: Buffer) => void; bytes: () => number } {
  const frames: Array<{ header: unknown; body?: Buffer }> = [];
  return { frames, send: (header, body) => frames.push({ header, ...(body ? { body } : {}) }), bytes: () => frames.reduce((n, f) => n + (f.body?.length ?? 0), 0) };
}

/** A body with no end: counts the chunks pulled from it. */
function endless(size: number): BodySource & { pulled: number; cancelled: Error | null } {
  const source = {
    pulled: 0,
    cancelled: null as Error | null,
    next: () => {
      source.pulled++;
      return Promise.resolve(Buffer.alloc(size));
    },
    cancel: (reason: Error) => {
      source.cancelled = reason;
    },
  };
  return source;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('StreamOut credits', () => {
  it('sends no more than its credits, in pieces of at most the chunk size, and pulls no further ahead', async () => {
    const wire = recorder();
    const out = new StreamOut(3, wire.send, 100 * 1024);
    const source = endless(48 * 1024);
    void out.pump(source);
    for (let i = 0; i < 10; i++) await turn();
    expect(wire.bytes()).toBe(100 * 1024);
    expect(wire.frames.every((f) => (f.body?.length ?? 0) <= STREAM_CHUNK_BYTES)).toBe(true);
    expect(wire.frames[0]?.header).toEqual({ t: 'chunk', id: 3 });
    // Two whole 48 KiB chunks and part of the third: the third waits, nothing more is pulled.
    expect(source.pulled).toBe(3);
    out.grant(20 * 1024);
    for (let i = 0; i < 10; i++) await turn();
    expect(wire.bytes()).toBe(120 * 1024);
    expect(source.pulled).toBe(3);
  });

  it('stops a pump waiting for credits when cancelled, and cancels its source', async () => {
    const wire = recorder();
    const out = new StreamOut(1, wire.send, 10);
    const source = endless(10);
    const pumped = out.pump(source);
    for (let i = 0; i < 5; i++) await turn();
    out.cancel(new Error('client gone'));
    await pumped;
    expect(source.cancelled?.message).toBe('client gone');
    expect(wire.bytes()).toBe(10);
  });

  it('rejects the pump when the source fails', async () => {
    const out = new StreamOut(1, recorder().send);
    await expect(out.pump({ next: () => Promise.reject(new Error('boom')), cancel: () => undefined })).rejects.toThrow('boom');
  });
});

describe('StreamOut cancel', () => {
  it('does not wait for a pull that never settles', async () => {
    const out = new StreamOut(1, recorder().send);
    const pumped = out.pump({ next: () => new Promise<Buffer | null>(() => undefined), cancel: () => undefined });
    await turn();
    out.cancel(new Error('client gone'));
    await expect(pumped).resolves.toBeUndefined();
  });
});
