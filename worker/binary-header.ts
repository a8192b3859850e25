/**
 * The binary form of the two frame headers every invocation sends: the runtime's `invoke` and
 * the worker's `result`. JSON costs each of the four ends 1.3-1.7 us per request here (stringify
 * or parse of the header with its write or read); this form 0.5-0.7. Other frames stay JSON:
 * they are rare.
 *
 * A binary header starts with its kind byte (a JSON header starts with `{`, 0x7b), then its
 * numbers as float64 big-endian, then one UTF-8 text holding its strings, each prefixed by its
 * length in UTF-16 units written as one character (see {@link lengthText}). Strings are sliced
 * out of the decoded text, so no per-field buffer call is made on either side.
 *
 * Only these two frame kinds exist in it. The runtime sends it to a worker of this protocol
 * version, and a worker answers in the form it was asked in (the hop floor of `npm run bench`
 * speaks JSON to the same worker). Decoding the worker's result is on the runtime's trust
 * boundary: a malformed header throws, and the caller drops the connection.
 *
 * UTF-8 maps a lone surrogate (a broken string a function printed) to U+FFFD, one unit for one,
 * so lengths in UTF-16 units survive the trip; JSON would have kept the lone surrogate.
 *
 * This file has no imports outside the worker folder (see framing.ts).
 */
import type { InvokeHeader, ResultHeader } from './protocol.js';

const INVOKE_KIND = 1;
const RESULT_KIND = 2;
/** Bytes before an invoke's text: its kind, id and timeoutMs. */
const INVOKE_NUMBERS_END = 1 + 8 + 8;
/** Bytes before a result's text: its kind, id, statusCode and durationMs. */
const RESULT_NUMBERS_END = 1 + 8 + 8 + 8;
/** Most bytes before the text of either kind. */
export const BINARY_PREFIX_BYTES = RESULT_NUMBERS_END;

/**
 * Characters with a meaning of their own, below the surrogates (0xd800-0xdfff, which UTF-8
 * cannot carry alone): a length of LONG or more is LONG and two 15-bit halves; a LIST value
 * is its count, then its strings; NULL stands for a null string.
 */
const LONG = 0xd000;
const LIST = 0xd001;
const NULL = 0xd002;
/** Longest string: 2^30 units, far past any frame (16 MiB). */
const MAX_LENGTH = 2 ** 30 - 1;

/** A frame header the binary form carries. */
export type BinaryHeader = InvokeHeader | ResultHeader;

/** Whether `header` is one of the kinds the binary form carries. */
export function hasBinaryForm(header: unknown): header is BinaryHeader {
  const t = (header as { t?: unknown } | null)?.t;
  return t === 'invoke' || t === 'result';
}

/** A string's length as text: one character below {@link LONG}, else three. */
function lengthText(n: number): string {
  if (n < LONG) return String.fromCharCode(n);
  if (n > MAX_LENGTH) throw new RangeError(`a string of ${n} characters is too long for a frame header`);
  return String.fromCharCode(LONG, n >>> 15, n & 0x7fff);
}

function stringText(s: string): string {
  return lengthText(s.length) + s;
}

function valueText(value: string | readonly string[]): string {
  if (typeof value === 'string') return stringText(value);
  if (!Array.isArray(value)) return stringText(String(value));
  let text = String.fromCharCode(LIST) + lengthText(value.length);
  for (const item of value) text += stringText(typeof item === 'string' ? item : String(item));
  return text;
}

function recordText(record: Record<string, string | string[]>): string {
  let count = 0;
  let text = '';
  for (const name in record) {
    // Own names only, as JSON.stringify takes them (not what a function added to Object.prototype).
    if (!Object.hasOwn(record, name)) continue;
    text += stringText(name) + valueText(record[name]!);
    count++;
  }
  return lengthText(count) + text;
}

function nullableText(s: string | null): string {
  return s === null ? String.fromCharCode(NULL) : stringText(s);
}

/** The text part of `header`'s binary form (its strings); its numbers are written by {@link writeBinaryHeader}. */
export function binaryHeaderText(header: BinaryHeader): string {
  if (header.t === 'invoke') {
    return stringText(header.method) + stringText(header.path) + stringText(header.requestId) + recordText(header.query) + recordText(header.headers);
  }
  return recordText(header.headers) + stringText(header.stdout) + stringText(header.stderr) + nullableText(header.error) + nullableText(header.errorCode);
}

/**
 * Writes `header`'s binary form at `at` (its text from {@link binaryHeaderText}); returns the
 * bytes written. `buffer` must have room for {@link BINARY_PREFIX_BYTES} plus 3 bytes a unit of `text`.
 */
export function writeBinaryHeader(buffer: Buffer, at: number, header: BinaryHeader, text: string): number {
  let end: number;
  if (header.t === 'invoke') {
    buffer[at] = INVOKE_KIND;
    buffer.writeDoubleBE(header.id, at + 1);
    buffer.writeDoubleBE(header.timeoutMs, at + 9);
    end = INVOKE_NUMBERS_END;
  } else {
    buffer[at] = RESULT_KIND;
    buffer.writeDoubleBE(header.id, at + 1);
    buffer.writeDoubleBE(header.statusCode, at + 9);
    buffer.writeDoubleBE(header.durationMs, at + 17);
    end = RESULT_NUMBERS_END;
  }
  return end + buffer.write(text, at + end, 'utf8');
}

/** Reads the strings of a header's text in order; any read past its end, or a bad length, throws. */
class TextReader {
  #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  #code(): number {
    if (this.#at >= this.#text.length) throw new Error('binary frame header ends early');
    return this.#text.charCodeAt(this.#at++);
  }

  #length(): number {
    const code = this.#code();
    if (code < LONG) return code;
    if (code !== LONG) throw new Error('binary frame header has a bad length');
    const high = this.#code();
    const low = this.#code();
    if (high > 0x7fff || low > 0x7fff) throw new Error('binary frame header has a bad length');
    return high * 0x8000 + low;
  }

  string(): string {
    const length = this.#length();
    const start = this.#at;
    const end = start + length;
    if (end > this.#text.length) throw new Error('binary frame header ends early');
    this.#at = end;
    return this.#text.slice(start, end);
  }

  nullable(): string | null {
    if (this.#text.charCodeAt(this.#at) !== NULL) return this.string();
    this.#at++;
    return null;
  }

  #value(): string | string[] {
    if (this.#text.charCodeAt(this.#at) !== LIST) return this.string();
    this.#at++;
    const count = this.#length();
    const list: string[] = [];
    for (let i = 0; i < count; i++) list.push(this.string());
    return list;
  }

  record(): Record<string, string | string[]> {
    const count = this.#length();
    const record: Record<string, string | string[]> = {};
    for (let i = 0; i < count; i++) {
      const name = this.string();
      const value = this.#value();
      // As JSON.parse makes it: an own property, not the object's prototype.
      if (name === '__proto__') Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true });
      else record[name] = value;
    }
    return record;
  }

  /** Throws unless every character was read: a header with more than its fields is malformed. */
  end(): void {
    if (this.#at !== this.#text.length) throw new Error('binary frame header has bytes after its fields');
  }
}

/** Decodes the binary header in `buffer[start, end)`; throws on anything malformed. */
export function readBinaryHeader(buffer: Buffer, start: number, end: number): BinaryHeader {
  const kind = buffer[start];
  const numbersEnd = kind === INVOKE_KIND ? INVOKE_NUMBERS_END : kind === RESULT_KIND ? RESULT_NUMBERS_END : 0;
  if (numbersEnd === 0) throw new Error(start < end ? `frame header of unknown kind ${kind}` : 'frame header is empty');
  if (end - start < numbersEnd) throw new Error('binary frame header ends early');
  const id = buffer.readDoubleBE(start + 1);
  const second = buffer.readDoubleBE(start + 9);
  const text = new TextReader(buffer.toString('utf8', start + numbersEnd, end));
  if (kind === INVOKE_KIND) {
    const method = text.string();
    const path = text.string();
    const requestId = text.string();
    const query = text.record();
    const headers = text.record();
    text.end();
    return { t: 'invoke', id, method, path, query, headers, requestId, timeoutMs: second };
  }
  const durationMs = buffer.readDoubleBE(start + 17);
  const headers = text.record();
  const stdout = text.string();
  const stderr = text.string();
  const error = text.nullable();
  const errorCode = text.nullable();
  text.end();
  // The code's value is checked where every result is (schemas/protocol.ts), as a JSON one's is.
  return { t: 'result', id, statusCode: second, headers, stdout, stderr, error, errorCode: errorCode as ResultHeader['errorCode'], durationMs };
}
