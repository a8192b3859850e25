/**
 * Wire format between the runtime and a worker over one persistent Unix socket.
 *
 * The runtime listens and the worker connects: the socket lives in a folder the container has
 * mounted read-only ({@link SOCKET_MOUNT}), so a container can write nothing on the host, and
 * which socket a worker reached is what tells the runtime whose container it is.
 *
 * The frames themselves (their headers' fields) are defined in ./protocol.ts.
 *
 * A frame is `u32 BE frameLength | u32 BE headerLength | header (UTF-8 JSON) | body bytes`,
 * where frameLength counts everything after itself. The header is small and JSON; the body
 * (request or response payload) travels as raw bytes so nothing re-parses it on the way.
 * Frames carry an `id`, so many invocations share one connection at once.
 *
 * The two headers of every invocation (`invoke`, `result`) may travel in a binary form instead
 * (./binary-header.ts); a decoder tells the forms apart by the header's first byte.
 *
 * This file has no imports outside the worker folder: it is mounted alone into containers,
 * and the runtime imports this same codec so both ends can never disagree.
 */
import { BINARY_PREFIX_BYTES, binaryHeaderText, hasBinaryForm, readBinaryHeader, writeBinaryHeader, type BinaryHeader } from './binary-header.js';

/** First byte of a JSON header; any other starts a binary one. */
const JSON_START = 0x7b;

/** Largest frame either side accepts: a 6 MiB body plus headers and captured logs. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** One decoded frame: its header (from JSON or the binary form) and raw body. */
export interface Frame<H = unknown> {
  header: H;
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Encodes one frame; `body` defaults to empty. */
export function encodeFrame(header: unknown, body?: Buffer | Uint8Array): Buffer {
  const json = JSON.stringify(header);
  const headerLength = Buffer.byteLength(json, 'utf8');
  const bodyLength = body ? body.byteLength : 0;
  const out = Buffer.allocUnsafe(8 + headerLength + bodyLength);
  out.writeUInt32BE(4 + headerLength + bodyLength, 0);
  out.writeUInt32BE(headerLength, 4);
  out.write(json, 8, headerLength, 'utf8');
  if (body && bodyLength > 0) out.set(body, 8 + headerLength);
  return out;
}

/** Bytes a frame may need beyond its body: the two lengths and a header of `chars` UTF-16 units (3 bytes each at most). */
function worstCase(chars: number): number {
  return 8 + chars * 3;
}

/** The exact bytes of a header: its JSON `text`, or `binary`'s form with its `text`. */
function headerBytes(binary: BinaryHeader | null, text: string): number {
  return (binary ? BINARY_PREFIX_BYTES : 0) + Buffer.byteLength(text, 'utf8');
}

/** Encodes a frame at `at` of `buffer` (room for its worst case); returns its bytes. */
function encodeAt(buffer: Buffer, at: number, binary: BinaryHeader | null, text: string, body: Buffer | Uint8Array | undefined): number {
  const bodyLength = body ? body.byteLength : 0;
  const headerLength = binary ? writeBinaryHeader(buffer, at + 8, binary, text) : buffer.write(text, at + 8, 'utf8');
  buffer.writeUInt32BE(4 + headerLength + bodyLength, at);
  buffer.writeUInt32BE(headerLength, at + 4);
  if (body && bodyLength > 0) buffer.set(body, at + 8 + headerLength);
  return 8 + headerLength + bodyLength;
}

/**
 * Coalesces the frames of one turn of the event loop into one socket write: `add` encodes a
 * frame into a buffer kept from turn to turn, and the first `add` of a turn schedules the
 * write (setImmediate). This costs less per frame than `socket.cork()` and a write each
 * (node's writable stream keeps a record and a callback per write, and libuv a vector entry).
 * A frame too large for the buffer (a big body) is written on its own, in order. `write` sends
 * a frame now instead, for one that has no turn to share.
 */
export class FrameWriter {
  #buffer: Buffer;
  #length = 0;
  /** Frames in the buffer now, and in the last write of it. */
  #frames = 0;
  #lastWriteFrames = 0;
  #scheduled = false;
  #write: (chunk: Buffer) => void;
  #flush = () => this.flush();

  /** `write` gets each coalesced chunk; it must not keep the chunk's memory for later reuse (it is a copy). */
  constructor(write: (chunk: Buffer) => void, bufferBytes = 64 * 1024) {
    this.#write = write;
    this.#buffer = Buffer.allocUnsafeSlow(bufferBytes);
  }

  /**
   * Sends `invoke` and `result` headers in their binary form (./binary-header.ts): set by the
   * runtime for a worker of its own protocol version, and by a worker once the runtime spoke it.
   */
  binary = false;

  /**
   * Queues one frame for this turn's write. A frame whose length (everything after its first
   * four bytes) would pass `maxFrameLength` is not queued, and `add` returns false.
   */
  add(header: unknown, body?: Buffer | Uint8Array, maxFrameLength = Infinity): boolean {
    if (!this.#enqueue(header, body, maxFrameLength)) return false;
    if (!this.#scheduled && this.#length > 0) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return true;
  }

  /**
   * Writes one frame now, after what this turn has queued (in order). For a frame with no turn
   * to share: the runtime's invoke on a quiet connection (`WorkerClient.send`). Queued, it would
   * wait for the rest of the turn (in a sequential request, ~14 us of the runtime's own work
   * on this machine) before its worker could start on it.
   */
  write(header: unknown, body?: Buffer | Uint8Array): void {
    this.#enqueue(header, body, Infinity);
    this.flush();
  }

  /** Encodes one frame into the turn's buffer (or writes it on its own when it cannot fit); false when it passes `maxFrameLength`. */
  #enqueue(header: unknown, body: Buffer | Uint8Array | undefined, maxFrameLength: number): boolean {
    const binary = this.binary && hasBinaryForm(header) ? header : null;
    const text = binary ? binaryHeaderText(binary) : JSON.stringify(header);
    const bodyLength = body ? body.byteLength : 0;
    const worst = (binary ? BINARY_PREFIX_BYTES : 0) + worstCase(text.length) + bodyLength;
    if (worst - 4 > maxFrameLength && 4 + headerBytes(binary, text) + bodyLength > maxFrameLength) return false;
    if (worst > this.#buffer.length - this.#length) {
      // Keep the order: what is queued leaves first, then this frame if it still does not fit.
      this.flush();
      if (worst > this.#buffer.length) {
        const own = Buffer.allocUnsafe(worst);
        this.#write(own.subarray(0, encodeAt(own, 0, binary, text, body)));
        return true;
      }
    }
    this.#length += encodeAt(this.#buffer, this.#length, binary, text, body);
    this.#frames += 1;
    return true;
  }

  /**
   * How many frames the last coalesced write carried: one when its turn had no other, more
   * under load. What a caller reads to tell a quiet connection from a busy one.
   */
  get lastWriteFrames(): number {
    return this.#lastWriteFrames;
  }

  /** Writes what is queued now (the scheduled write then finds nothing). */
  flush(): void {
    this.#scheduled = false;
    if (this.#length === 0) return;
    // A copy: the socket may hold the chunk until the kernel takes it, and the buffer is reused.
    const chunk = Buffer.allocUnsafe(this.#length);
    this.#buffer.copy(chunk, 0, 0, this.#length);
    this.#length = 0;
    this.#lastWriteFrames = this.#frames;
    this.#frames = 0;
    this.#write(chunk);
  }
}

/**
 * Incremental decoder: feed it socket chunks in any split, get whole frames back.
 * Throws on a frame larger than {@link MAX_FRAME_BYTES} or a malformed header, since a peer
 * that sends either is broken and its connection must be dropped.
 *
 * Frames are read in place from the chunk that holds them; a partial frame is kept as a list
 * of chunks and joined once, when its last byte has arrived.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes the partial frame needs before it can be read: its whole length once known, else 4. */
  #need = 0;

  /** True once a frame with a binary header came: its peer speaks the binary form. */
  binary = false;

  /** Bytes received and not yet returned as a frame: a partial frame. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let buffer = chunk;
    if (this.#buffered > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered < this.#need) return frames;
      buffer = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#buffered);
      this.#chunks = [];
      this.#buffered = 0;
    }
    const end = buffer.length;
    let at = 0;
    while (end - at >= 4) {
      const frameLength = buffer.readUInt32BE(at);
      if (frameLength > MAX_FRAME_BYTES || frameLength < 4) {
        throw new Error(`frame of ${frameLength} bytes is outside 4..${MAX_FRAME_BYTES}`);
      }
      const frameEnd = at + 4 + frameLength;
      if (frameEnd > end) break;
      const headerLength = buffer.readUInt32BE(at + 4);
      if (headerLength > frameLength - 4) throw new Error('frame header longer than its frame');
      const headerEnd = at + 8 + headerLength;
      let header: unknown;
      if (buffer[at + 8] === JSON_START && headerEnd > at + 8) header = JSON.parse(buffer.toString('utf8', at + 8, headerEnd));
      else {
        header = readBinaryHeader(buffer, at + 8, headerEnd);
        this.binary = true;
      }
      frames.push({ header, body: headerEnd === frameEnd ? EMPTY : buffer.subarray(headerEnd, frameEnd) });
      at = frameEnd;
    }
    if (at < end) {
      const rest = at === 0 ? buffer : buffer.subarray(at);
      this.#chunks = [rest];
      this.#buffered = rest.length;
      this.#need = rest.length >= 4 ? 4 + rest.readUInt32BE(0) : 4;
    }
    return frames;
  }
}
