import { describe, expect, it } from 'vitest';
import type { InvocationRecord } from './records.js';
import { decodeRecords, encodeNamed, splitByKey } from './record-codec.js';

const base: InvocationRecord = { requestId: 'a1b2', funcName: 'hello', revision: 3, invokedAt: 1_733_000_000_123, durationMs: 0.125, statusCode: 200, coldStart: false, stdout: '', stderr: '', error: null, bytesSent: 12, ttfbMs: null };

/** A batch back as records, the way the store reads what it split. */
function decodeNamed(batch: ReturnType<typeof encodeNamed>): InvocationRecord[] {
  const out: InvocationRecord[] = [];
  for (const [key, part] of splitByKey(batch, batch.names.length, 'test batch')) {
    out.push(...decodeRecords(part.numbers, part.text, 'test batch', (fields, k) => ({ ...fields, revision: fields.revision!, funcName: batch.names[k]! })));
    expect(key).toBeLessThan(batch.names.length);
  }
  return out.map(({ requestId, funcName, revision, invokedAt, durationMs, statusCode, coldStart, stdout, stderr, error, bytesSent, ttfbMs }) => ({ requestId, funcName, revision, invokedAt, durationMs, statusCode, coldStart, stdout, stderr, error, bytesSent, ttfbMs }));
}

describe('record codec', () => {
  it('gives back every record unchanged, each function in order, whatever its text holds', () => {
    const records: InvocationRecord[] = [
      base,
      { ...base, requestId: 'x', revision: 12, coldStart: true, statusCode: 504, durationMs: 30_000.5, error: 'timed out; after 30000 ms, really' },
      { ...base, stdout: 'line 1\nline 2;with,commas\0and a NUL', stderr: 'é中文😀 surrogate pairs', error: '' },
      { ...base, funcName: 'f-2', durationMs: 1e-7, invokedAt: 0, stdout: '9,9,9;', error: null },
      { ...base, bytesSent: 209_715_200, ttfbMs: 3.25 },
      { ...base, bytesSent: null, ttfbMs: null },
      { ...base, funcName: 'f-2', requestId: '' },
    ];
    const byFunction = [...records.filter((r) => r.funcName === 'hello'), ...records.filter((r) => r.funcName === 'f-2')];
    expect(decodeNamed(encodeNamed(records))).toEqual(byFunction);
  });

  it('keeps each function name once per batch and no text for empty output', () => {
    const packed = encodeNamed([base, { ...base, funcName: 'other' }, base]);
    expect(packed.names).toEqual(['hello', 'other']);
    expect(packed.text).toBe('a1b2a1b2a1b2');
  });

  it('splits a batch of one function into itself, not a copy', () => {
    const packed = encodeNamed([base, { ...base, stdout: 'out' }]);
    const parts = splitByKey(packed, 1, 'test batch');
    expect([...parts.keys()]).toEqual([0]);
    expect(parts.get(0)!.numbers).toBe(packed.numbers);
  });

  it('gives back the records after the numbers cross a thread boundary by transfer', () => {
    const packed = encodeNamed([base, { ...base, stdout: 'out' }]);
    const crossed = structuredClone(packed, { transfer: [packed.numbers.buffer] });
    expect(packed.numbers.length).toBe(0);
    expect(decodeNamed(crossed)).toEqual([base, { ...base, stdout: 'out' }]);
  });

  it('encodes an empty batch into nothing', () => {
    const packed = encodeNamed([]);
    expect(packed.numbers.length).toBe(0);
    expect(packed.text).toBe('');
    expect(splitByKey(packed, 0, 'test batch').size).toBe(0);
  });

  it('refuses a batch it did not make, naming it', () => {
    const packed = encodeNamed([{ ...base, stdout: 'hello' }, { ...base, funcName: 'other', error: 'e' }]);
    const split = (batch: Partial<typeof packed>) => () => splitByKey({ ...packed, ...batch }, (batch.names ?? packed.names).length, 'test batch');
    expect(split({ text: packed.text.slice(0, -2) })).toThrow(/malformed test batch/);
    expect(split({ text: `${packed.text}x` })).toThrow(/malformed test batch/);
    expect(split({ names: ['hello'] })).toThrow(/malformed test batch: a record with key 1/);
    expect(split({ numbers: packed.numbers.subarray(1) })).toThrow(/malformed test batch/);
    const noRevision = packed.numbers.slice();
    noRevision[4] = NaN;
    expect(split({ numbers: noRevision })).toThrow(/no revision/);
    const negative = packed.numbers.slice();
    negative[9] = -1;
    expect(split({ numbers: negative })).toThrow(/malformed test batch/);
    const fraction = packed.numbers.slice();
    fraction[8] = 1.5;
    expect(split({ numbers: fraction })).toThrow(/malformed test batch/);
  });
});
