export interface RateDecision {
  allowed: boolean;
  /** Seconds until a request would be allowed; 0 when allowed. */
  retryAfterSeconds: number;
}

/** Counts action creations per key (an account) in a sliding window. */
export interface RateLimiter {
  hit(key: string, at: number): Promise<RateDecision>;
}

/** A sliding-window decision and, when the hit is allowed, the hits to store for the key. */
export interface SlidingWindowStep {
  decision: RateDecision;
  /** The allowed hits still in the window, `at` included, ascending; null when denied (a denial records nothing). */
  hits: number[] | null;
}

/**
 * The rule every RateLimiter adapter applies: at most `limit` allowed hits per key in any window
 * (at - windowMs, at]. `stored` are the key's earlier allowed hits (epoch ms, ascending); older
 * ones are dropped. A denial says when the oldest hit leaves the window, in whole seconds rounded
 * up, at least 1 (the value of the Retry-After header, RFC 9110 §10.2.3).
 */
export function slidingWindowStep(stored: readonly number[], at: number, limit: number, windowMs: number): SlidingWindowStep {
  const hits = stored.filter((t) => t > at - windowMs);
  if (hits.length >= limit) {
    // Full window: the next slot frees when the oldest allowed hit leaves it.
    const oldest = hits[0] as number;
    return { decision: { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((oldest + windowMs - at) / 1000)) }, hits: null };
  }
  // Times normally arrive in order; a clock step backwards must not break hits[0] being the oldest.
  let i = hits.length;
  while (i > 0 && (hits[i - 1] as number) > at) i--;
  hits.splice(i, 0, at);
  return { decision: { allowed: true, retryAfterSeconds: 0 }, hits };
}
