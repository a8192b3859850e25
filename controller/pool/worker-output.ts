/**
 * What a worker printed outside invocations (`output` frames), on its way from the connection
 * to whoever listens (the pool hands it to invocation/container-output.ts).
 */

/** Where a worker's output printed outside invocations goes. */
export type OutputListener = (stream: 'stdout' | 'stderr', text: string) => void;

/** Output frames kept until a listener is set (a stem cell's load output, say), in characters. */
const MAX_UNHEARD_OUTPUT_CHARS = 64 * 1024;

/**
 * A partial frame may arrive while no request is in flight only if it can be an output frame:
 * at most this many bytes (its text, JSON-escaped, plus the header's few fields).
 */
export const MAX_UNASKED_PARTIAL_BYTES = 6 * 16_384 + 1024;

/** Passes output to the listener, or keeps a bounded amount until one is set. */
export class OutputRelay {
  #listener: OutputListener | null = null;
  #unheard: Array<[stream: 'stdout' | 'stderr', text: string]> = [];
  #unheardChars = 0;

  /** Sets the listener; what came before is handed over now. */
  listen(listener: OutputListener): void {
    this.#listener = listener;
    const unheard = this.#unheard;
    this.#unheard = [];
    this.#unheardChars = 0;
    for (const [stream, text] of unheard) listener(stream, text);
  }

  push(stream: 'stdout' | 'stderr', text: string): void {
    if (this.#listener) this.#listener(stream, text);
    else if (this.#unheardChars + text.length <= MAX_UNHEARD_OUTPUT_CHARS) {
      this.#unheard.push([stream, text]);
      this.#unheardChars += text.length;
    }
  }
}
