export interface RateDecision {
  allowed: boolean;
  /** Seconds until a request would be allowed; 0 when allowed. */
  retryAfterSeconds: number;
}

/** Counts action creations per key (an account) in a sliding window. */
export interface RateLimiter {
  hit(key: string, at: number): Promise<RateDecision>;
}
