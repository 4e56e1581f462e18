import { slidingWindowStep, type RateDecision, type RateLimiter } from '../../actions/rateLimiter';

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
    const { decision, hits } = slidingWindowStep(this.hits.get(key) ?? [], at, this.limit, this.windowMs);
    if (hits !== null) this.hits.set(key, hits);
    return decision;
  }

  private sweepIdleKeys(at: number): void {
    if (at - this.lastSweepAt < this.windowMs) return;
    this.lastSweepAt = at;
    // Hits are ascending: a key whose newest hit has left the window is idle.
    for (const [key, times] of this.hits) if ((times[times.length - 1] ?? Number.NEGATIVE_INFINITY) <= at - this.windowMs) this.hits.delete(key);
  }
}
