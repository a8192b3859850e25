import type { InvocationRecord } from '../state/records.js';
import { decodeRecords, encodeRecords } from '../state/record-codec.js';

/**
 * Invocation records as they cross to the writer thread: in the codec's format
 * (state/record-codec.ts; each record's key is its function name's index in `names`), numbers
 * in one Float64Array whose buffer is transferred, not copied, texts in one string, function
 * names once per batch. The earlier format (`1733000000123,0.125,200,...;` per record) spent
 * most of its time in number-to-string conversions on the runtime's main thread, and the
 * writer thread as long again splitting and parsing it back.
 */
export interface PackedRecords {
  numbers: Float64Array<ArrayBuffer>;
  text: string;
  names: string[];
}

/** Packs records in order; the caller may transfer `numbers.buffer`. */
export function packRecords(records: readonly InvocationRecord[]): PackedRecords {
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

/** The records {@link packRecords} packed, in order. Throws on anything it did not make. */
export function unpackRecords(packed: PackedRecords): InvocationRecord[] {
  return decodeRecords(packed.numbers, packed.text, 'packed invocation records', (fields, nameIndex) => {
    const funcName = packed.names[nameIndex];
    if (funcName === undefined) throw new Error('malformed packed invocation records: a record with no function name');
    if (fields.revision === null) throw new Error('malformed packed invocation records: a record with no revision');
    const { requestId, invokedAt, durationMs, statusCode, coldStart, stdout, stderr, error, bytesSent, ttfbMs } = fields;
    return { requestId, funcName, revision: fields.revision, invokedAt, durationMs, statusCode, coldStart, stdout, stderr, error, bytesSent, ttfbMs };
  });
}
