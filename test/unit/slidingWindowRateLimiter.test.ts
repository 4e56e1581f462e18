import { describe, it, expect } from 'vitest';
import { SlidingWindowRateLimiter } from '../../src/adapters/memory/slidingWindowRateLimiter';

const T0 = 1_700_000_000_000;

describe('SlidingWindowRateLimiter', () => {
  it('allows `limit` hits in the window and denies the next', async () => {
    const limiter = new SlidingWindowRateLimiter(3, 60_000);
    expect(await limiter.hit('a', T0)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(await limiter.hit('a', T0 + 1)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(await limiter.hit('a', T0 + 2)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect((await limiter.hit('a', T0 + 3)).allowed).toBe(false);
  });

  it('says how long until the oldest hit leaves the window, rounded up, at least 1 second', async () => {
    const limiter = new SlidingWindowRateLimiter(2, 60_000);
    await limiter.hit('a', T0);
    await limiter.hit('a', T0 + 10_000);
    expect(await limiter.hit('a', T0 + 20_500)).toEqual({ allowed: false, retryAfterSeconds: 40 });
    expect(await limiter.hit('a', T0 + 59_999)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  });

  it('slides: a hit exactly one window after the oldest is allowed', async () => {
    const limiter = new SlidingWindowRateLimiter(2, 60_000);
    await limiter.hit('a', T0);
    await limiter.hit('a', T0 + 30_000);
    expect((await limiter.hit('a', T0 + 59_999)).allowed).toBe(false);
    expect((await limiter.hit('a', T0 + 60_000)).allowed).toBe(true);
    // The window now holds T0+30s and T0+60s: full until T0+90s.
    expect(await limiter.hit('a', T0 + 60_001)).toEqual({ allowed: false, retryAfterSeconds: 30 });
    expect((await limiter.hit('a', T0 + 90_000)).allowed).toBe(true);
  });

  it('does not record denied hits', async () => {
    const limiter = new SlidingWindowRateLimiter(1, 10_000);
    expect((await limiter.hit('a', T0)).allowed).toBe(true);
    for (let t = 1; t < 10; t++) expect((await limiter.hit('a', T0 + t * 1000)).allowed).toBe(false);
    // Had the denied hits counted, the window would still be full here.
    expect((await limiter.hit('a', T0 + 10_000)).allowed).toBe(true);
  });

  it('keeps keys apart', async () => {
    const limiter = new SlidingWindowRateLimiter(1, 60_000);
    expect((await limiter.hit('a', T0)).allowed).toBe(true);
    expect((await limiter.hit('b', T0)).allowed).toBe(true);
    expect((await limiter.hit('a', T0 + 1)).allowed).toBe(false);
    expect((await limiter.hit('b', T0 + 1)).allowed).toBe(false);
    expect((await limiter.hit('c', T0 + 1)).allowed).toBe(true);
  });

  it('forgets idle keys once their hits leave the window', async () => {
    const limiter = new SlidingWindowRateLimiter(1, 1000);
    for (let i = 0; i < 100; i++) await limiter.hit(`idle-${i}`, T0);
    await limiter.hit('active', T0 + 5000);
    const hits = (limiter as unknown as { hits: Map<string, number[]> }).hits;
    expect([...hits.keys()]).toEqual(['active']);
  });

  it('rejects a limit below 1', () => {
    expect(() => new SlidingWindowRateLimiter(0)).toThrow(RangeError);
  });
});
