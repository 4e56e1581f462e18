import type { RateDecision, RateLimiter } from '../../actions/rateLimiter';

/**
 * An in-process sliding-window limiter: at most `limit` allowed hits per key in any window of
 * `windowMs`, i.e. in (at - windowMs, at]. It keeps the timestamps of allowed hits only, so a
 * client hammering while denied does not push its own retry time further out.
 *
 * Memory is bounded by limit x active keys: keys whose hits have all left the window are dropped,
 * on their next hit or by a sweep that runs at most once per window.
 */
export class SlidingWindowRateLimiter implements RateLimiter {
  /** Per key, allowed hit times in ascending order. */
  private readonly hits = new Map<string, number[]>();
  private lastSweepAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer; got ${limit}`);
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive; got ${windowMs}`);
  }

  hit(key: string, at: number): Promise<RateDecision> {
    return Promise.resolve(this.decide(key, at));
  }

  private decide(key: string, at: number): RateDecision {
    this.sweepIdleKeys(at);
    const times = this.hits.get(key) ?? [];
    dropBefore(times, at - this.windowMs);
    if (times.length < this.limit) {
      insertSorted(times, at);
      this.hits.set(key, times);
      return { allowed: true, retryAfterSeconds: 0 };
    }
    // Full window: the next slot frees when the oldest allowed hit leaves it.
    const oldest = times[0] as number;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + this.windowMs - at) / 1000)) };
  }

  private sweepIdleKeys(at: number): void {
    if (at - this.lastSweepAt < this.windowMs) return;
    this.lastSweepAt = at;
    const cutoff = at - this.windowMs;
    for (const [key, times] of this.hits) {
      dropBefore(times, cutoff);
      if (times.length === 0) this.hits.delete(key);
    }
  }
}

/** Removes times at or before `cutoff` (they are outside the window). */
function dropBefore(times: number[], cutoff: number): void {
  let expired = 0;
  while (expired < times.length && (times[expired] as number) <= cutoff) expired++;
  if (expired > 0) times.splice(0, expired);
}

/** Times normally arrive in order; a clock step backwards must not break `times[0]` being the oldest. */
function insertSorted(times: number[], at: number): void {
  let i = times.length;
  while (i > 0 && (times[i - 1] as number) > at) i--;
  times.splice(i, 0, at);
}
