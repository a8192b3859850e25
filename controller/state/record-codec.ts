import type { InvocationRecord } from './records.js';

/** Slots per record in an encoded batch's numbers. */
export const SLOTS = 12;

/** A record's fields the codec carries; `revision` may be null (records from before revisions). */
export type RecordFields = Omit<InvocationRecord, 'funcName' | 'revision'> & { revision: number | null };

/**
 * Invocation records as numbers and one text, the one format they take both on their way to
 * the writer thread ({@link encodeNamed}) and in the database (invocation-chunks.ts).
 * No number becomes text and no per-field string is built, which is what makes both cheap.
 *
 * Per record, `numbers` holds invokedAt, durationMs, statusCode, coldStart (0/1), revision,
 * bytesSent and ttfbMs (NaN for null: none is ever NaN), a key that is the caller's (the
 * function name's index on the way to the thread, the record's id when stored), then the
 * lengths in UTF-16 code units of its requestId, stdout, stderr and error (-1 for a null
 * error), whose texts follow one another in `text`. Doubles keep every number exactly and the
 * text keeps any string unchanged.
 */
export function encodeRecords(records: readonly RecordFields[], key: (index: number) => number): { numbers: Float64Array<ArrayBuffer>; text: string } {
  const n = new Float64Array(records.length * SLOTS);
  // Joined once: SQLite and postMessage both need the text flat, and a rope of a few hundred
  // pieces costs more to flatten than the join.
  const texts: string[] = [];
  let o = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    n[o] = r.invokedAt;
    n[o + 1] = r.durationMs;
    n[o + 2] = r.statusCode;
    n[o + 3] = r.coldStart ? 1 : 0;
    n[o + 4] = r.revision ?? NaN;
    n[o + 5] = r.bytesSent ?? NaN;
    n[o + 6] = r.ttfbMs ?? NaN;
    n[o + 7] = key(i);
    n[o + 8] = r.requestId.length;
    n[o + 9] = r.stdout.length;
    n[o + 10] = r.stderr.length;
    n[o + 11] = r.error === null ? -1 : r.error.length;
    o += SLOTS;
    texts.push(r.requestId);
    // Most handlers print nothing: empty strings add nothing.
    if (r.stdout.length > 0) texts.push(r.stdout);
    if (r.stderr.length > 0) texts.push(r.stderr);
    if (r.error !== null && r.error.length > 0) texts.push(r.error);
  }
  return { numbers: n, text: texts.join('') };
}

/**
 * The records {@link encodeRecords} encoded, in order, each made by `make` from its fields and
 * its key. Throws, naming `what`, on anything it did not make.
 */
export function decodeRecords<T>(numbers: Float64Array, text: string, what: string, make: (fields: RecordFields, key: number) => T): T[] {
  if (numbers.length % SLOTS !== 0) throw new Error(`malformed ${what}: ${numbers.length} numbers`);
  const records = new Array<T>(numbers.length / SLOTS);
  let p = 0;
  const take = (length: number): string => {
    if (!Number.isInteger(length) || length < 0 || p + length > text.length) throw new Error(`malformed ${what} at ${p}`);
    const s = length === 0 ? '' : text.slice(p, p + length);
    p += length;
    return s;
  };
  const orNull = (x: number) => (Number.isNaN(x) ? null : x);
  for (let i = 0, o = 0; o < numbers.length; i++, o += SLOTS) {
    const requestId = take(numbers[o + 8]!);
    const stdout = take(numbers[o + 9]!);
    const stderr = take(numbers[o + 10]!);
    const error = numbers[o + 11] === -1 ? null : take(numbers[o + 11]!);
    records[i] = make(
      {
        requestId,
        revision: orNull(numbers[o + 4]!),
        invokedAt: numbers[o]!,
        durationMs: numbers[o + 1]!,
        statusCode: numbers[o + 2]!,
        coldStart: numbers[o + 3] === 1,
        stdout,
        stderr,
        error,
        bytesSent: orNull(numbers[o + 5]!),
        ttfbMs: orNull(numbers[o + 6]!),
      },
      numbers[o + 7]!,
    );
  }
  if (p !== text.length) throw new Error(`malformed ${what}: ${text.length - p} characters left over`);
  return records;
}

/** Records in the codec's format: {@link SLOTS} numbers each, their texts one after another. */
export interface EncodedRecords {
  numbers: Float64Array;
  text: string;
}

/**
 * Records of any functions, each record's key its function name's index in `names` (each name
 * once per batch): how a batch crosses to the writer thread (its numbers' buffer transferred,
 * not copied) and reaches the store there. The earlier format (`1733000000123,0.125,200,...;`
 * per record) spent most of its time in number-to-string conversions on the runtime's main
 * thread, and the writer thread as long again splitting and parsing it back.
 */
export interface NamedRecords {
  numbers: Float64Array<ArrayBuffer>;
  text: string;
  names: string[];
}

/** Encodes records in order under their function names' indexes; the caller may transfer `numbers.buffer`. */
export function encodeNamed(records: readonly InvocationRecord[]): NamedRecords {
  const names: string[] = [];
  let lastName: string | undefined;
  let nameIndex = -1;
  const { numbers, text } = encodeRecords(records, (i) => {
    const name = records[i]!.funcName;
    if (name !== lastName) {
      lastName = name;
      nameIndex = names.indexOf(name);
      if (nameIndex < 0) nameIndex = names.push(name) - 1;
    }
    return nameIndex;
  });
  return { numbers, text, names };
}

/** UTF-16 units of text of the record whose numbers start at `o` (the four lengths; -1 is a null error). */
export function textLengthAt(numbers: Float64Array, o: number): number {
  return numbers[o + 8]! + numbers[o + 9]! + numbers[o + 10]! + Math.max(0, numbers[o + 11]!);
}

/**
 * An encoded batch's records split by their key, in the order each key first appears, each
 * key's records in order, without decoding them: the writer thread stores what the main
 * thread packed as it is (a chunk per function), where decoding into objects and encoding
 * them again cost it as much as SQLite did. Checks what decoding would (lengths that fit the
 * text, keys below `keys`, a revision on every record) and throws, naming `what`, on anything
 * {@link encodeRecords} did not make.
 */
export function splitByKey(batch: EncodedRecords, keys: number, what: string): Map<number, EncodedRecords> {
  const { numbers, text } = batch;
  if (numbers.length % SLOTS !== 0) throw new Error(`malformed ${what}: ${numbers.length} numbers`);
  let p = 0;
  let single: number | undefined = numbers.length > 0 ? numbers[7] : undefined;
  for (let o = 0; o < numbers.length; o += SLOTS) {
    const key = numbers[o + 7]!;
    if (!Number.isInteger(key) || key < 0 || key >= keys) throw new Error(`malformed ${what}: a record with key ${key}`);
    if (Number.isNaN(numbers[o + 4])) throw new Error(`malformed ${what}: a record with no revision`);
    for (let s = 8; s < 12; s++) {
      const length = numbers[o + s]!;
      if (!Number.isInteger(length) || length < (s === 11 ? -1 : 0)) throw new Error(`malformed ${what} at ${p}`);
    }
    if (key !== single) single = undefined;
    p += textLengthAt(numbers, o);
    if (p > text.length) throw new Error(`malformed ${what} at ${p}`);
  }
  if (p !== text.length) throw new Error(`malformed ${what}: ${text.length - p} characters left over`);
  const out = new Map<number, EncodedRecords>();
  // Most batches hold one function's records: they are the batch itself.
  if (single !== undefined) return out.set(single, batch);
  // Several functions: each record's slots and text go to its function's part.
  const parts = new Map<number, { slots: Float64Array[]; texts: string[] }>();
  for (let o = 0, at = 0; o < numbers.length; o += SLOTS) {
    const key = numbers[o + 7]!;
    let part = parts.get(key);
    if (!part) parts.set(key, (part = { slots: [], texts: [] }));
    const length = textLengthAt(numbers, o);
    part.slots.push(numbers.subarray(o, o + SLOTS));
    part.texts.push(text.slice(at, at + length));
    at += length;
  }
  for (const [key, { slots, texts }] of parts) {
    const n = new Float64Array(slots.length * SLOTS);
    slots.forEach((record, j) => n.set(record, j * SLOTS));
    out.set(key, { numbers: n, text: texts.join('') });
  }
  return out;
}
