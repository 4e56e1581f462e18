import { PermanentError } from '../errors';

/** Retry policy as data. Delays grow exponentially from baseDelayMs, capped, with "full-minus" jitter. */
export interface RetryPolicy {
  /** Total tries of a batch, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** 0 = fixed delays; 0.5 = each delay is shortened by up to half, so retries of many batches spread out. */
  jitter: number;
  /** A batch delivered more often than this (its worker died every time) fails its remaining entities. */
  maxDeliveries: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000, jitter: 0.5, maxDeliveries: 10 };

/** The one decision: is `error`, seen on try number `attempt`, worth another try? */
export function shouldRetry(error: Error, attempt: number, policy: RetryPolicy): boolean {
  return !(error instanceof PermanentError) && attempt < policy.attempts;
}

/** Delay before try number attempt + 1. */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential * (1 - policy.jitter * random()));
}
