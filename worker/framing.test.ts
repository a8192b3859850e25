import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameWriter, MAX_FRAME_BYTES } from './framing.js';
import type { InvokeHeader, ResultHeader } from './protocol.js';

describe('framing', () => {
  it('decodes what it encodes, header and body', () => {
    const body = Buffer.from([0, 1, 2, 255, 254]);
    const frames = new FrameDecoder().push(encodeFrame({ t: 'invoke', id: 7, path: '/é' }, body));
    expect(frames).toHaveLength(1);
    expect(frames[0]?.header).toEqual({ t: 'invoke', id: 7, path: '/é' });
    expect(frames[0]?.body.equals(body)).toBe(true);
  });

  it('reassembles frames fed one byte at a time', () => {
    const wire = Buffer.concat([
      encodeFrame({ id: 1 }, Buffer.from('first body')),
      encodeFrame({ id: 2 }),
      encodeFrame({ id: 3 }, new Uint8Array([9, 8, 7])),
    ]);
    const decoder = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < wire.length; i++) frames.push(...decoder.push(wire.subarray(i, i + 1)));
    expect(frames.map((f) => f.header)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(frames.map((f) => [...f.body])).toEqual([[...Buffer.from('first body')], [], [9, 8, 7]]);
  });

  it('reassembles frames split at arbitrary chunk boundaries', () => {
    const sent = Array.from({ length: 50 }, (_, id) => ({ id, body: Buffer.alloc(id * 37, id) }));
    const wire = Buffer.concat(sent.map((f) => encodeFrame({ id: f.id }, f.body)));
    for (let seed = 1; seed <= 20; seed++) {
      const decoder = new FrameDecoder();
      const got = [];
      let at = 0;
      let rand = seed;
      while (at < wire.length) {
        rand = (rand * 1103515245 + 12345) % 2 ** 31;
        const size = 1 + (rand % 97);
        got.push(...decoder.push(wire.subarray(at, at + size)));
        at += size;
      }
      expect(got.map((f) => f.header)).toEqual(sent.map((f) => ({ id: f.id })));
      got.forEach((f, i) => expect(f.body.equals(sent[i]?.body as Buffer)).toBe(true));
    }
  });

  it('returns every frame of a chunk that holds several', () => {
    const wire = Buffer.concat([encodeFrame({ id: 1 }), encodeFrame({ id: 2 }, Buffer.from('x')), encodeFrame({ id: 3 })]);
    const frames = new FrameDecoder().push(wire);
    expect(frames.map((f) => f.header)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  it('keeps a trailing partial frame for the next chunk', () => {
    const a = encodeFrame({ id: 1 });
    const b = encodeFrame({ id: 2 }, Buffer.from('hello'));
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.concat([a, b.subarray(0, 6)])).map((f) => f.header)).toEqual([{ id: 1 }]);
    const rest = decoder.push(b.subarray(6));
    expect(rest.map((f) => f.header)).toEqual([{ id: 2 }]);
    expect(rest[0]?.body.toString()).toBe('hello');
  });

  it('gives an empty body when none was sent', () => {
    const [frame] = new FrameDecoder().push(encodeFrame({ id: 1 }));
    expect(frame?.body.length).toBe(0);
  });

  it('throws on a frame longer than the limit before buffering it', () => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
    expect(() => new FrameDecoder().push(head)).toThrow(/outside/);
  });

  it('throws on a header that is not JSON', () => {
    const header = Buffer.from('{nope');
    const frame = Buffer.alloc(8 + header.length);
    frame.writeUInt32BE(4 + header.length, 0);
    frame.writeUInt32BE(header.length, 4);
    header.copy(frame, 8);
    expect(() => new FrameDecoder().push(frame)).toThrow();
  });

  it('throws on a header length past the end of its frame', () => {
    const frame = Buffer.alloc(10);
    frame.writeUInt32BE(6, 0);
    frame.writeUInt32BE(50, 4);
    expect(() => new FrameDecoder().push(frame)).toThrow(/header longer/);
  });
});

describe('FrameWriter', () => {
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

  it('sends the frames of one turn in one write, in order, as encodeFrame would', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk));
    writer.add({ id: 1 }, Buffer.from('one'));
    writer.add({ id: 2, path: '/é' });
    writer.add({ id: 3 }, new Uint8Array([9, 8]));
    expect(writes).toHaveLength(0);
    await nextTurn();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.equals(Buffer.concat([encodeFrame({ id: 1 }, Buffer.from('one')), encodeFrame({ id: 2, path: '/é' }), encodeFrame({ id: 3 }, new Uint8Array([9, 8]))]))).toBe(true);
    writer.add({ id: 4 });
    await nextTurn();
    expect(writes).toHaveLength(2);
    expect(new FrameDecoder().push(writes[1]!).map((f) => f.header)).toEqual([{ id: 4 }]);
  });

  it('writes a copy, so the next turn does not change what was written', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk));
    writer.add({ id: 1 }, Buffer.from('first'));
    await nextTurn();
    writer.add({ id: 2 }, Buffer.from('other'));
    await nextTurn();
    expect(new FrameDecoder().push(writes[0]!)[0]!.body.toString()).toBe('first');
  });

  it('keeps the order when a frame does not fit the buffer: what was queued leaves first', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk), 64);
    writer.add({ id: 1 });
    writer.add({ id: 2 }, Buffer.alloc(1000, 7));
    writer.add({ id: 3 });
    await nextTurn();
    const decoder = new FrameDecoder();
    const frames = writes.flatMap((w) => decoder.push(w));
    expect(frames.map((f) => f.header)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(frames[1]!.body.equals(Buffer.alloc(1000, 7))).toBe(true);
  });

  it('writes a frame at once with what the turn had queued before it, in order, and leaves nothing for the turn\'s end', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk));
    writer.add({ id: 1 });
    writer.write({ id: 2 }, Buffer.from('now'));
    expect(writes).toHaveLength(1);
    const frames = new FrameDecoder().push(writes[0]!);
    expect(frames.map((f) => f.header)).toEqual([{ id: 1 }, { id: 2 }]);
    expect(frames[1]!.body.toString()).toBe('now');
    await nextTurn();
    expect(writes).toHaveLength(1);
    // A frame too large for the buffer leaves on its own, still at once.
    const small = new FrameWriter((chunk) => writes.push(chunk), 64);
    small.write({ id: 3 }, Buffer.alloc(500, 1));
    expect(writes).toHaveLength(2);
    expect(new FrameDecoder().push(writes[1]!)[0]!.body.length).toBe(500);
  });

  it('refuses a frame longer than the limit it is given, and queues nothing of it', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk));
    expect(writer.add({ id: 1 }, Buffer.alloc(200), 100)).toBe(false);
    expect(writer.add({ id: 2 }, Buffer.alloc(50), 100)).toBe(true);
    await nextTurn();
    expect(new FrameDecoder().push(Buffer.concat(writes)).map((f) => f.header)).toEqual([{ id: 2 }]);
  });
});

describe('FrameWriter and FrameDecoder in the binary form', () => {
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
  const invoke: InvokeHeader = { t: 'invoke', id: 3, method: 'GET', path: '/é', query: { a: ['1', '2'] }, headers: { host: 'h' }, requestId: 'r-3', timeoutMs: 1000 };
  const result: ResultHeader = { t: 'result', id: 3, statusCode: 200, headers: { 'x-a': 'b' }, stdout: 'out', stderr: '', error: null, errorCode: null, durationMs: 0.5 };

  it('sends invoke and result headers in it, and other frames as JSON, in one stream the decoder reads back', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk));
    writer.binary = true;
    writer.add(invoke, Buffer.from('in'));
    writer.add({ t: 'credit', id: 3, bytes: 10 });
    writer.add(result, Buffer.from('out'));
    await nextTurn();
    const wire = Buffer.concat(writes);
    // Each frame's header starts right after the two lengths: a kind byte, `{`, a kind byte.
    const starts: number[] = [];
    for (let at = 0; at < wire.length; at += 4 + wire.readUInt32BE(at)) starts.push(wire[at + 8]!);
    expect(starts).toEqual([1, 0x7b, 2]);
    const decoder = new FrameDecoder();
    expect(decoder.binary).toBe(false);
    const frames = decoder.push(wire);
    expect(decoder.binary).toBe(true);
    expect(frames.map((f) => f.header)).toEqual([invoke, { t: 'credit', id: 3, bytes: 10 }, result]);
    expect(frames.map((f) => f.body.toString())).toEqual(['in', '', 'out']);
  });

  it('sends JSON until told otherwise, and a decoder that read only JSON says so', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk));
    writer.add(invoke);
    await nextTurn();
    expect(writes[0]!.equals(encodeFrame(invoke))).toBe(true);
    const decoder = new FrameDecoder();
    expect(decoder.push(writes[0]!)[0]!.header).toEqual(invoke);
    expect(decoder.binary).toBe(false);
  });

  it('writes a binary-headed frame larger than its buffer on its own, in order', async () => {
    const writes: Buffer[] = [];
    const writer = new FrameWriter((chunk) => writes.push(chunk), 256);
    writer.binary = true;
    writer.add({ ...result, id: 1 });
    writer.add({ ...result, id: 2, stdout: 'é'.repeat(500) }, Buffer.alloc(1000, 7));
    writer.add({ ...result, id: 3 });
    await nextTurn();
    const frames = new FrameDecoder().push(Buffer.concat(writes));
    expect(frames.map((f) => (f.header as ResultHeader).id)).toEqual([1, 2, 3]);
    expect((frames[1]!.header as ResultHeader).stdout).toBe('é'.repeat(500));
    expect(frames[1]!.body.equals(Buffer.alloc(1000, 7))).toBe(true);
  });

  it('counts a binary header by its exact bytes against the limit it is given', async () => {
    const header = { ...result, stdout: 'é'.repeat(100) };
    const writes: Buffer[] = [];
    const probe = new FrameWriter((chunk) => writes.push(chunk));
    probe.binary = true;
    probe.add(header, Buffer.alloc(10));
    await nextTurn();
    // The frame's length field: everything after its first four bytes.
    const exact = writes[0]!.length - 4;
    const writer = new FrameWriter(() => undefined);
    writer.binary = true;
    expect(writer.add(header, Buffer.alloc(10), exact - 1)).toBe(false);
    expect(writer.add(header, Buffer.alloc(10), exact)).toBe(true);
  });

  it('drops nothing silently: a malformed binary header throws, as malformed JSON does', () => {
    const frame = encodeFrame({ t: 'x' });
    frame[8] = 2; // a result's kind byte where `{` was: the rest is too short to be one
    expect(() => new FrameDecoder().push(frame)).toThrow(/ends early/);
    const empty = Buffer.alloc(8);
    empty.writeUInt32BE(4, 0);
    expect(() => new FrameDecoder().push(empty)).toThrow(/empty/);
  });
});
