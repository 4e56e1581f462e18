import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../../src/actions/rateLimiter';

/** Builds a fresh limiter allowing `limit` hits per key in any window of `windowMs`. */
export type MakeRateLimiter = (limit: number, windowMs: number) => Promise<{ limiter: RateLimiter; cleanup: () => Promise<void> }>;

const T0 = 1_700_000_000_000;

/** The RateLimiter port's behaviour (a sliding window of allowed hits per key), run against every adapter. */
export function describeRateLimiterContract(name: string, make: MakeRateLimiter): void {
  describe(`RateLimiter contract: ${name}`, () => {
    async function withLimiter(limit: number, windowMs: number, body: (limiter: RateLimiter) => Promise<void>): Promise<void> {
      const { limiter, cleanup } = await make(limit, windowMs);
      try {
        await body(limiter);
      } finally {
        await cleanup();
      }
    }

    it('allows `limit` hits in the window and denies the next', () =>
      withLimiter(3, 60_000, async (limiter) => {
        expect(await limiter.hit('a', T0)).toEqual({ allowed: true, retryAfterSeconds: 0 });
        expect(await limiter.hit('a', T0 + 1)).toEqual({ allowed: true, retryAfterSeconds: 0 });
        expect(await limiter.hit('a', T0 + 2)).toEqual({ allowed: true, retryAfterSeconds: 0 });
        expect((await limiter.hit('a', T0 + 3)).allowed).toBe(false);
      }));

    it('says how long until the oldest hit leaves the window, rounded up, at least 1 second', () =>
      withLimiter(2, 60_000, async (limiter) => {
        await limiter.hit('a', T0);
        await limiter.hit('a', T0 + 10_000);
        expect(await limiter.hit('a', T0 + 20_500)).toEqual({ allowed: false, retryAfterSeconds: 40 });
        expect(await limiter.hit('a', T0 + 59_999)).toEqual({ allowed: false, retryAfterSeconds: 1 });
      }));

    it('slides: a hit exactly one window after the oldest is allowed', () =>
      withLimiter(2, 60_000, async (limiter) => {
        await limiter.hit('a', T0);
        await limiter.hit('a', T0 + 30_000);
        expect((await limiter.hit('a', T0 + 59_999)).allowed).toBe(false);
        expect((await limiter.hit('a', T0 + 60_000)).allowed).toBe(true);
        // The window now holds T0+30s and T0+60s: full until T0+90s.
        expect(await limiter.hit('a', T0 + 60_001)).toEqual({ allowed: false, retryAfterSeconds: 30 });
        expect((await limiter.hit('a', T0 + 90_000)).allowed).toBe(true);
      }));

    it('does not record denied hits', () =>
      withLimiter(1, 10_000, async (limiter) => {
        expect((await limiter.hit('a', T0)).allowed).toBe(true);
        for (let t = 1; t < 10; t++) expect((await limiter.hit('a', T0 + t * 1000)).allowed).toBe(false);
        // Had the denied hits counted, the window would still be full here.
        expect((await limiter.hit('a', T0 + 10_000)).allowed).toBe(true);
      }));

    it('keeps keys apart', () =>
      withLimiter(1, 60_000, async (limiter) => {
        expect((await limiter.hit('a', T0)).allowed).toBe(true);
        expect((await limiter.hit('b', T0)).allowed).toBe(true);
        expect((await limiter.hit('a', T0 + 1)).allowed).toBe(false);
        expect((await limiter.hit('b', T0 + 1)).allowed).toBe(false);
        expect((await limiter.hit('c', T0 + 1)).allowed).toBe(true);
      }));

    it('allows exactly `limit` of many concurrent hits', () =>
      withLimiter(5, 60_000, async (limiter) => {
        const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => limiter.hit('a', T0 + i)));
        expect(decisions.filter((d) => d.allowed).length).toBe(5);
      }));
  });
}
