import { describe, expect, it } from 'vitest';
import type { InvocationRecord } from '../state/records.js';
import { packRecords, unpackRecords } from './record-packing.js';

const base: InvocationRecord = { requestId: 'a1b2', funcName: 'hello', revision: 3, invokedAt: 1_733_000_000_123, durationMs: 0.125, statusCode: 200, coldStart: false, stdout: '', stderr: '', error: null, bytesSent: 12, ttfbMs: null };

describe('record packing', () => {
  it('gives back every record unchanged, in order, whatever its text holds', () => {
    const records: InvocationRecord[] = [
      base,
      { ...base, requestId: 'x', revision: 12, coldStart: true, statusCode: 504, durationMs: 30_000.5, error: 'timed out; after 30000 ms, really' },
      { ...base, stdout: 'line 1\nline 2;with,commas\0and a NUL', stderr: 'é中文😀 surrogate pairs', error: '' },
      { ...base, funcName: 'f-2', durationMs: 1e-7, invokedAt: 0, stdout: '9,9,9;', error: null },
      { ...base, bytesSent: 209_715_200, ttfbMs: 3.25 },
      { ...base, bytesSent: null, ttfbMs: null },
      { ...base, funcName: 'f-2', requestId: '' },
    ];
    expect(unpackRecords(packRecords(records))).toEqual(records);
  });

  it('keeps each function name once per batch and no text for empty output', () => {
    const packed = packRecords([base, { ...base, funcName: 'other' }, base]);
    expect(packed.names).toEqual(['hello', 'other']);
    expect(packed.text).toBe('a1b2a1b2a1b2');
  });

  it('gives back the records after the numbers cross a thread boundary by transfer', () => {
    const packed = packRecords([base, { ...base, stdout: 'out' }]);
    const crossed = structuredClone(packed, { transfer: [packed.numbers.buffer] });
    expect(packed.numbers.length).toBe(0);
    expect(unpackRecords(crossed)).toEqual([base, { ...base, stdout: 'out' }]);
  });

  it('packs an empty batch into nothing', () => {
    const packed = packRecords([]);
    expect(packed.numbers.length).toBe(0);
    expect(packed.text).toBe('');
    expect(unpackRecords(packed)).toEqual([]);
  });

  it('refuses a batch it did not make', () => {
    const packed = packRecords([{ ...base, stdout: 'hello' }]);
    expect(() => unpackRecords({ ...packed, text: packed.text.slice(0, -2) })).toThrow(/malformed/);
    expect(() => unpackRecords({ ...packed, text: `${packed.text}x` })).toThrow(/malformed/);
    expect(() => unpackRecords({ ...packed, names: [] })).toThrow(/malformed/);
    expect(() => unpackRecords({ ...packed, numbers: packed.numbers.subarray(1) })).toThrow(/malformed/);
  });
});
