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
    ];
    expect(unpackRecords(packRecords(records))).toEqual(records);
  });

  it('packs an empty batch as an empty string', () => {
    expect(packRecords([])).toBe('');
    expect(unpackRecords('')).toEqual([]);
  });

  it('refuses a string it did not make', () => {
    expect(() => unpackRecords('not a record')).toThrow(/malformed/);
    expect(() => unpackRecords(packRecords([base]).slice(0, -2))).toThrow(/malformed/);
  });
});
