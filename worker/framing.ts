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
 * This file has no imports outside node: the worker folder is mounted alone into containers,
 * and the runtime imports this same codec so both ends can never disagree.
 */

/** Largest frame either side accepts: a 6 MiB body plus headers and captured logs. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** One decoded frame: its JSON header and raw body. */
export interface Frame<H = unknown> {
  header: H;
  body: Buffer;
}

/** Encodes one frame; `body` defaults to empty. */
export function encodeFrame(header: unknown, body?: Buffer | Uint8Array): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const bodyLength = body ? body.byteLength : 0;
  const out = Buffer.allocUnsafe(8 + headerBytes.length + bodyLength);
  out.writeUInt32BE(4 + headerBytes.length + bodyLength, 0);
  out.writeUInt32BE(headerBytes.length, 4);
  headerBytes.copy(out, 8);
  if (body && bodyLength > 0) out.set(body, 8 + headerBytes.length);
  return out;
}

/**
 * Incremental decoder: feed it socket chunks in any split, get whole frames back.
 * Throws on a frame larger than {@link MAX_FRAME_BYTES} or a malformed header, since a peer
 * that sends either is broken and its connection must be dropped.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;

  /** Bytes received and not yet returned as a frame: a partial frame. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.#buffered >= 4) {
      const head = this.#peek(4);
      const frameLength = head.readUInt32BE(0);
      if (frameLength > MAX_FRAME_BYTES || frameLength < 4) {
        throw new Error(`frame of ${frameLength} bytes is outside 4..${MAX_FRAME_BYTES}`);
      }
      if (this.#buffered < 4 + frameLength) break;
      const whole = this.#take(4 + frameLength);
      const headerLength = whole.readUInt32BE(4);
      if (headerLength > frameLength - 4) throw new Error('frame header longer than its frame');
      const header: unknown = JSON.parse(whole.toString('utf8', 8, 8 + headerLength));
      frames.push({ header, body: whole.subarray(8 + headerLength) });
    }
    return frames;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= n) return first;
    this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] as Buffer;
  }

  #take(n: number): Buffer {
    const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
    return taken;
  }
}

