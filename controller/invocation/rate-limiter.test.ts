import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { TokenBucket } from './rate-limiter.js';

function takeMany(bucket: TokenBucket, n: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) if (bucket.take().ok) admitted++;
  return admitted;
}

describe('TokenBucket', () => {
  it('admits everything at rate 0 (unlimited)', () => {
    const bucket = new TokenBucket(0, new FakeClock());
    expect(takeMany(bucket, 10_000)).toBe(10_000);
    expect(bucket.take()).toMatchObject({ ok: true, retryAfterMs: 0 });
  });

  it('admits exactly the burst at once, then refuses with a positive retryAfterMs', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(5, clock);
    for (let i = 0; i < 5; i++) expect(bucket.take()).toMatchObject({ ok: true, limit: 5, remaining: 4 - i, retryAfterMs: 0 });
    const refused = bucket.take();
    expect(refused.ok).toBe(false);
    expect(refused.remaining).toBe(0);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(200);
    expect(refused.resetMs).toBeGreaterThanOrEqual(refused.retryAfterMs);

    // retryAfterMs is when the next token is back: not earlier.
    clock.advance(refused.retryAfterMs - 1);
    expect(bucket.take().ok).toBe(false);
    clock.advance(1);
    expect(bucket.take().ok).toBe(true);
  });

  it('admits burst + rate * window when hammered every 10 ms for 10 s', () => {
    const clock = new FakeClock(1_700_000_000_000);
    const bucket = new TokenBucket(5, clock);
    let admitted = 0;
    for (let t = 0; t <= 10_000; t += 10) {
      if (t > 0) clock.advance(10);
      if (bucket.take().ok) admitted++;
    }
    expect(admitted).toBe(5 + 50);
  });

  it('keeps earned tokens on a live configure, so raising the rate grants no free burst', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(5, clock);
    expect(takeMany(bucket, 5)).toBe(5);
    bucket.configure(100);
    expect(bucket.rate).toBe(100);
    expect(bucket.take().ok).toBe(false);
    clock.advance(10); // one token at 100/s
    expect(takeMany(bucket, 3)).toBe(1);
    clock.advance(1_000);
    expect(takeMany(bucket, 200)).toBe(100);
  });

  it('starts a first limit on an unlimited bucket with its full burst', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(0, clock);
    takeMany(bucket, 100);
    bucket.configure(3);
    expect(takeMany(bucket, 10)).toBe(3);
    expect(bucket.take()).toMatchObject({ ok: false, limit: 3, retryAfterMs: 334 });
  });

  it('caps the tokens to the new burst when the rate is lowered', () => {
    const bucket = new TokenBucket(10, new FakeClock());
    bucket.configure(2);
    expect(takeMany(bucket, 10)).toBe(2);
  });
});
