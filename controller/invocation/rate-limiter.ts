import type { Clock } from '../support/clock.js';

/** The outcome of one `take`, with what the RateLimit-* headers need. */
export interface TakeResult {
  ok: boolean;
  limit: number;
  remaining: number;
  /** When the next token is there (0 when one is there now). */
  retryAfterMs: number;
  /** When the bucket is full again. */
  resetMs: number;
}

/** What every take of an unlimited bucket gives: one shared object, not one per request. */
const UNLIMITED: TakeResult = Object.freeze({ ok: true, limit: 0, remaining: 0, retryAfterMs: 0, resetMs: 0 });

/**
 * A token bucket: `rate` tokens per second, holding at most `burst`. A rate of 0 means
 * unlimited. Reconfiguring keeps the tokens already earned, so a live change never grants
 * a free burst; a first limit on an unlimited function starts full.
 */
export class TokenBucket {
  #rate = 0;
  #burst = 0;
  #tokens = 0;
  #updatedAt: number;
  #clock: Clock;

  constructor(rate: number, clock: Clock, burst?: number) {
    this.#clock = clock;
    this.#updatedAt = clock.now();
    this.configure(rate, burst);
    this.#tokens = this.#burst;
  }

  get rate(): number {
    return this.#rate;
  }

  /** Changes the rate live. The default burst is one second's worth (at least 1). */
  configure(rate: number, burst = Math.max(1, Math.ceil(rate))): void {
    this.#refill();
    // Coming from unlimited, nothing was held back: the new limit starts with a full burst.
    const wasUnlimited = this.#rate <= 0;
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = wasUnlimited ? burst : Math.min(this.#tokens, burst);
  }

  take(): TakeResult {
    if (this.#rate <= 0) return UNLIMITED;
    this.#refill();
    const ok = this.#tokens >= 1;
    if (ok) this.#tokens -= 1;
    const perTokenMs = 1000 / this.#rate;
    return {
      ok,
      limit: this.#rate,
      remaining: Math.floor(this.#tokens),
      retryAfterMs: ok ? 0 : Math.ceil((1 - this.#tokens) * perTokenMs),
      resetMs: Math.ceil((this.#burst - this.#tokens) * perTokenMs),
    };
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = now - this.#updatedAt;
    this.#updatedAt = now;
    if (this.#rate > 0 && elapsed > 0) this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
  }
}
