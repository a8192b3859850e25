import { describe, expect, it } from 'vitest';
import { newRequestId } from './request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRequestId', () => {
  it('gives version-4 UUIDs, all different, across many refills', () => {
    const ids = Array.from({ length: 5000 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(UUID_V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('spreads every hex digit over the random positions (the bytes are random, not a counter)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) seen.add(newRequestId().slice(0, 8));
    // A counter or a fixed prefix would repeat the first eight characters.
    expect(seen.size).toBe(300);
    const digits = new Set(Array.from({ length: 300 }, () => newRequestId()).join('').replace(/-/g, ''));
    expect(digits.size).toBe(16);
  });
});
