import type { InvocationRecord } from '../state/records.js';

/**
 * Invocation records as they cross to the writer thread: a batch packed into one string.
 * postMessage clones one string with a copy, where an array of record objects is cloned field
 * by field, names included, and rebuilt the same way on the thread: measured with callgrind,
 * deserialising alone cost the writer thread ~8k instructions per record, and serialising was
 * ~6 % of the runtime's main thread under load.
 *
 * A record is `invokedAt,durationMs,statusCode,coldStart,revision,bytesSent,ttfbMs,len1,...,len5;` (an
 * empty bytesSent or ttfbMs is null) and then its strings
 * requestId, funcName, stdout, stderr and error, lengths in UTF-16 code units (len5 is -1 for
 * a null error), so any text comes back unchanged. Numbers go through their shortest decimal
 * form, which `Number` reads back exactly.
 */
export function packRecords(records: readonly InvocationRecord[]): string {
  let out = '';
  for (const r of records) {
    const error = r.error ?? '';
    out +=
      `${r.invokedAt},${r.durationMs},${r.statusCode},${r.coldStart ? 1 : 0},${r.revision},${r.bytesSent ?? ''},${r.ttfbMs ?? ''},` +
      `${r.requestId.length},${r.funcName.length},${r.stdout.length},${r.stderr.length},${r.error === null ? -1 : error.length};` +
      r.requestId +
      r.funcName +
      r.stdout +
      r.stderr +
      error;
  }
  return out;
}

/** The records {@link packRecords} packed, in order. Throws on a string it did not make. */
export function unpackRecords(packed: string): InvocationRecord[] {
  const records: InvocationRecord[] = [];
  let at = 0;
  while (at < packed.length) {
    const end = packed.indexOf(';', at);
    const f = end < 0 ? [] : packed.slice(at, end).split(',');
    if (f.length !== 12) throw new Error(`malformed packed invocation record at ${at}`);
    let p = end + 1;
    const text = (length: number): string => {
      const s = packed.slice(p, p + length);
      if (s.length !== length) throw new Error(`malformed packed invocation record at ${at}`);
      p += length;
      return s;
    };
    const requestId = text(Number(f[7]));
    const funcName = text(Number(f[8]));
    const stdout = text(Number(f[9]));
    const stderr = text(Number(f[10]));
    const errorLength = Number(f[11]);
    const error = errorLength < 0 ? null : text(errorLength);
    records.push({
      requestId,
      funcName,
      revision: Number(f[4]),
      invokedAt: Number(f[0]),
      durationMs: Number(f[1]),
      statusCode: Number(f[2]),
      coldStart: f[3] === '1',
      stdout,
      stderr,
      error,
      bytesSent: f[5] === '' ? null : Number(f[5]),
      ttfbMs: f[6] === '' ? null : Number(f[6]),
    });
    at = p;
  }
  return records;
}
