import { describe, it, expect } from 'vitest';
import { SlidingWindowRateLimiter } from '../../src/adapters/memory/slidingWindowRateLimiter';
import { describeRateLimiterContract } from '../contract/rateLimiter.contract';

const T0 = 1_700_000_000_000;

describeRateLimiterContract('in-process sliding window', async (limit, windowMs) => ({
  limiter: new SlidingWindowRateLimiter(limit, windowMs),
  cleanup: async () => {},
}));

describe('SlidingWindowRateLimiter', () => {
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
