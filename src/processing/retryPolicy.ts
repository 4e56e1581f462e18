/**
 * Retry policy as data. A batch whose processing throws (a transient error: the store or the CRM
 * is unreachable) goes back to the queue and is delivered again after a backoff that grows
 * exponentially from baseDelayMs, capped at maxDelayMs, with "full-minus" jitter. Entity-level
 * failures (`PermanentError`, validation) are outcomes, not retries.
 */
export interface RetryPolicy {
  /** Deliveries of a batch, the first included, before its remaining entities fail (MAX_BATCH_ATTEMPTS). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** 0 = fixed delays; 0.5 = each delay is shortened by up to half, so retries of many batches spread out. */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, jitter: 0.5 };

/** Wait (ms) before delivery `attempt + 1` of a batch whose delivery `attempt` threw. */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (Math.max(1, attempt) - 1));
  return Math.round(exponential * (1 - policy.jitter * random()));
}

/** True when a failure on this delivery must settle the batch's entities instead of retrying. */
export function isLastAttempt(attempt: number, policy: RetryPolicy): boolean {
  return attempt >= policy.maxAttempts;
}
