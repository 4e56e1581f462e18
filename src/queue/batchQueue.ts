import type { BatchMessage } from '../types/entities';

export interface Delivery {
  /** 1 on first delivery; higher when the batch comes back after a crash or a lost lease. */
  deliveryCount: number;
}

/** Resolve to acknowledge the batch; reject (or die) and it is delivered again later. */
export type BatchConsumer = (batch: BatchMessage, delivery: Delivery) => Promise<void>;

export interface ConsumeOptions {
  concurrency: number;
  onError?: (error: Error) => void;
}

export interface Subscription {
  /** Stops taking new batches and waits for the ones in flight. */
  stop(): Promise<void>;
}

/** A durable, at-least-once queue of batches. */
export interface BatchQueue {
  enqueue(batches: BatchMessage[]): Promise<void>;
  /**
   * Runs `concurrency` consumers until stopped. Errors of the queue itself (its database or broker
   * unreachable) go to `onError`, and consuming goes on after a pause: they never crash the process.
   */
  consume(consumer: BatchConsumer, options: ConsumeOptions): Promise<Subscription>;
  /** Drops an action's batches that are still waiting (clean-up after completion or cancellation). */
  purge(actionId: string): Promise<number>;
  /** Batches waiting or in flight. */
  depth(): Promise<number>;
  close(): Promise<void>;
}
