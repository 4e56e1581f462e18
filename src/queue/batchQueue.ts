import type { BatchMessage } from '../types/entities';

/** How often this batch has been handed to a consumer. */
export interface Delivery {
  /**
   * 1 on the first delivery. Every further delivery counts: a retry after the consumer threw, and
   * a redelivery after a consumer died without settling the batch (lease expiry, closed channel).
   */
  attempt: number;
}

/**
 * What the consumer decided about a batch it finished:
 * - `ack`: done, remove it from the queue;
 * - `dead-letter`: done, but keep a copy where operators look (the dead-letter queue or table),
 *   because the batch ran out of attempts and its remaining entities were failed.
 */
export type BatchVerdict = 'ack' | 'dead-letter';

/**
 * Processes one batch. Resolve with a verdict to settle it. Throw (or die) and the queue delivers
 * it again after `backoffMs(attempt)`: never immediately, never dropped. Deciding when to stop
 * retrying is the consumer's job (it sees `attempt`), because only it can settle the entities.
 */
export type BatchConsumer = (batch: BatchMessage, delivery: Delivery) => Promise<BatchVerdict>;

/** Which batch a queue error is about, where the adapter knows: log lines about a batch carry both. */
export type BatchIdentity = Pick<BatchMessage, 'actionId' | 'batchNo'>;

export interface ConsumeOptions {
  /** Batches in flight at once for this subscription (RabbitMQ: the channel's prefetch). */
  concurrency: number;
  /**
   * Errors of the queue itself (its database or broker unreachable, a payload that does not parse)
   * go here, with the batch when the error is about one; consuming goes on after a pause. They
   * never crash the process.
   */
  onError?: (error: Error, batch?: BatchIdentity) => void;
  /** Tests: called once the adapter settled a delivery, before that consumer takes the next (a crash point). */
  afterSettled?: () => void;
}

export interface StopOptions {
  /**
   * The longest `stop` waits for the batches in flight (ms); default: as long as they take. Past
   * it, each batch still in flight is handed back for redelivery (SQLite: its lease released,
   * fenced by its token; RabbitMQ: the channel closed, so the broker requeues what it delivered),
   * and `stop` resolves. That delivery counts as an attempt, like a crash. The consumer calls
   * still running are abandoned: whatever they resolve later is ignored, never settled.
   */
  timeoutMs?: number;
}

export interface Subscription {
  /**
   * Stops taking new batches and waits for the ones in flight to settle, at most
   * `options.timeoutMs`. Idempotent: a second call returns the first call's promise.
   */
  stop(options?: StopOptions): Promise<void>;
}

/** Batches by where they are. `unacked` is null where the backend cannot tell (RabbitMQ without its management API). */
export interface QueueDepth {
  /** Waiting for a consumer. */
  ready: number;
  /** Delivered to a consumer and not yet settled. */
  unacked: number | null;
  /** Waiting out a retry backoff before they become ready again. */
  delayed: number;
  /** Given up on: kept for operators, never delivered again. */
  deadLettered: number;
}

/**
 * A durable, at-least-once queue of batches (the spec's step 3). Adapters: the embedded SQLite
 * table (src/adapters/sqlite/) and RabbitMQ (src/adapters/rabbitmq/).
 */
export interface BatchQueue {
  /**
   * Resolves once every batch is durably accepted (RabbitMQ: publisher-confirmed). Rejects if any
   * was not; some may have been accepted, which is harmless: consumers are idempotent.
   */
  publish(batches: BatchMessage[]): Promise<void>;
  /** Runs `concurrency` consumers until stopped. */
  consume(consumer: BatchConsumer, options: ConsumeOptions): Promise<Subscription>;
  depth(): Promise<QueueDepth>;
  /** Resolves when the queue's backend answers (the SQLite table, the broker's work queue); rejects otherwise (`/ready`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How an adapter spaces retries: `backoffMs(attempt)` is the wait before delivery `attempt + 1`
 * of a batch whose consumer threw on delivery `attempt`. Comes from the retry policy
 * (src/processing/retryPolicy.ts), resolved once in the composition root.
 */
export interface QueueRetry {
  backoffMs(attempt: number): number;
}
