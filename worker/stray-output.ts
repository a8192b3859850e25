/**
 * Output a function prints outside any invocation (at module load, in background timers),
 * on its way to the runtime as `output` frames: coalesced per turn of the event loop, split
 * at the frame's bound, held (bounded) while no connection is open, and limited in rate so
 * a chatty timer cannot flood the runtime.
 */
import { encodeFrame } from './framing.js';
import { MAX_OUTPUT_FRAME_CHARS, type OutputHeader } from './protocol.js';

/** Limits of {@link StrayOutput}. */
export interface StrayOutputLimits {
  /** Characters held while no connection is open; the oldest go first. */
  maxHeldChars: number;
  /** Characters sent per second; past it output is dropped and the drop is said once the second ends. */
  maxCharsPerSecond: number;
}

export const DEFAULT_STRAY_LIMITS: StrayOutputLimits = { maxHeldChars: 64 * 1024, maxCharsPerSecond: 1024 * 1024 };

/** Collects stray output and sends it through the connection given by {@link connect}. */
export class StrayOutput {
  #limits: StrayOutputLimits;
  #held: OutputHeader[] = [];
  #heldChars = 0;
  #send: ((frame: Buffer) => void) | null = null;
  #scheduled = false;
  #windowStart = 0;
  #windowChars = 0;
  #dropped = 0;

  constructor(limits: StrayOutputLimits = DEFAULT_STRAY_LIMITS) {
    this.#limits = limits;
  }

  /** Takes one write of `stream`. */
  write(stream: 'stdout' | 'stderr', text: string): void {
    if (text === '') return;
    const now = Date.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#windowChars = 0;
      if (this.#dropped > 0) {
        const note = `[glambdar: ${this.#dropped} characters of output dropped: over ${this.#limits.maxCharsPerSecond} per second]\n`;
        this.#dropped = 0;
        this.#hold('stderr', note);
      }
    }
    if (this.#windowChars + text.length > this.#limits.maxCharsPerSecond) {
      this.#dropped += text.length;
      return;
    }
    this.#windowChars += text.length;
    this.#hold(stream, text);
  }

  /** A connection is open: what is held leaves now, the rest as it comes. */
  connect(send: (frame: Buffer) => void): void {
    this.#send = send;
    this.#schedule();
  }

  /** The connection closed: output is held (bounded) until the next one. */
  disconnect(): void {
    this.#send = null;
  }

  #hold(stream: 'stdout' | 'stderr', text: string): void {
    for (let at = 0; at < text.length; ) {
      let end = Math.min(text.length, at + MAX_OUTPUT_FRAME_CHARS);
      // Never split a surrogate pair between two frames.
      if (end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end -= 1;
      const piece = text.slice(at, end);
      at = end;
      const last = this.#held.at(-1);
      if (last && last.stream === stream && last.text.length + piece.length <= MAX_OUTPUT_FRAME_CHARS) last.text += piece;
      else this.#held.push({ t: 'output', stream, text: piece });
      this.#heldChars += piece.length;
    }
    while (this.#heldChars > this.#limits.maxHeldChars && this.#held.length > 1) this.#heldChars -= this.#held.shift()!.text.length;
    this.#schedule();
  }

  /** Sends what is held now (before the connection ends: a drain's last output must not wait for the next turn). */
  flush(): void {
    const send = this.#send;
    if (send === null || this.#held.length === 0) return;
    const frames = this.#held;
    this.#held = [];
    this.#heldChars = 0;
    for (const header of frames) send(encodeFrame(header));
  }

  #schedule(): void {
    if (this.#scheduled || this.#send === null || this.#held.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }
}
