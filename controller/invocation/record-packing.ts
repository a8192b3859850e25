import type { InvocationRecord } from '../state/records.js';

/** Slots per record in {@link PackedRecords.numbers}. */
const SLOTS = 12;

/**
 * Invocation records as they cross to the writer thread: numbers in one Float64Array (its
 * buffer is transferred, not copied), strings in one concatenated string, function names once
 * per batch. Packing converts no number to text and builds no string per field: the earlier
 * format (`1733000000123,0.125,200,...;` per record) spent most of its time in number-to-
 * string conversions and template literals on the runtime's main thread, and the writer thread
 * as long again splitting and parsing it back.
 *
 * Per record, `numbers` holds invokedAt, durationMs, statusCode, coldStart (0/1), revision,
 * bytesSent and ttfbMs (NaN for null: neither is ever NaN), the index of its function name in
 * `names`, then the lengths, in UTF-16 code units, of its requestId, stdout, stderr and error
 * (-1 for a null error), whose texts follow one another in `text` in that order. Doubles keep
 * every number exactly and strings keep any text unchanged.
 */
export interface PackedRecords {
  numbers: Float64Array<ArrayBuffer>;
  text: string;
  names: string[];
}

/** Packs records in order; the caller may transfer `numbers.buffer`. */
export function packRecords(records: readonly InvocationRecord[]): PackedRecords {
  const numbers = new Float64Array(records.length * SLOTS);
  const names: string[] = [];
  let text = '';
  let lastName: string | undefined;
  let nameIndex = -1;
  let o = 0;
  for (const r of records) {
    if (r.funcName !== lastName) {
      lastName = r.funcName;
      nameIndex = names.indexOf(lastName);
      if (nameIndex < 0) nameIndex = names.push(lastName) - 1;
    }
    numbers[o] = r.invokedAt;
    numbers[o + 1] = r.durationMs;
    numbers[o + 2] = r.statusCode;
    numbers[o + 3] = r.coldStart ? 1 : 0;
    numbers[o + 4] = r.revision;
    numbers[o + 5] = r.bytesSent ?? NaN;
    numbers[o + 6] = r.ttfbMs ?? NaN;
    numbers[o + 7] = nameIndex;
    numbers[o + 8] = r.requestId.length;
    numbers[o + 9] = r.stdout.length;
    numbers[o + 10] = r.stderr.length;
    numbers[o + 11] = r.error === null ? -1 : r.error.length;
    o += SLOTS;
    text += r.requestId;
    // Most handlers print nothing: skip empty strings rather than growing the rope with them.
    if (r.stdout.length > 0) text += r.stdout;
    if (r.stderr.length > 0) text += r.stderr;
    if (r.error !== null && r.error.length > 0) text += r.error;
  }
  return { numbers, text, names };
}

/** The records {@link packRecords} packed, in order. Throws on anything it did not make. */
export function unpackRecords(packed: PackedRecords): InvocationRecord[] {
  const { numbers: n, text, names } = packed;
  if (n.length % SLOTS !== 0) throw new Error(`malformed packed invocation records: ${n.length} numbers`);
  const records: InvocationRecord[] = new Array<InvocationRecord>(n.length / SLOTS);
  let p = 0;
  const take = (length: number): string => {
    if (!Number.isInteger(length) || length < 0 || p + length > text.length) throw new Error(`malformed packed invocation record at ${p}`);
    const s = length === 0 ? '' : text.slice(p, p + length);
    p += length;
    return s;
  };
  for (let i = 0, o = 0; o < n.length; i++, o += SLOTS) {
    const funcName = names[n[o + 7]!];
    if (funcName === undefined) throw new Error(`malformed packed invocation record ${i}: no function name`);
    const requestId = take(n[o + 8]!);
    const stdout = take(n[o + 9]!);
    const stderr = take(n[o + 10]!);
    const error = n[o + 11] === -1 ? null : take(n[o + 11]!);
    const bytesSent = n[o + 5]!;
    const ttfbMs = n[o + 6]!;
    records[i] = {
      requestId,
      funcName,
      revision: n[o + 4]!,
      invokedAt: n[o]!,
      durationMs: n[o + 1]!,
      statusCode: n[o + 2]!,
      coldStart: n[o + 3] === 1,
      stdout,
      stderr,
      error,
      bytesSent: Number.isNaN(bytesSent) ? null : bytesSent,
      ttfbMs: Number.isNaN(ttfbMs) ? null : ttfbMs,
    };
  }
  if (p !== text.length) throw new Error(`malformed packed invocation records: ${text.length - p} characters left over`);
  return records;
}
