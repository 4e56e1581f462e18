import type { Channel } from 'amqplib';

/**
 * The queues behind one work queue name (RABBITMQ_QUEUE), all on the default exchange, so a
 * message is published straight to a queue by name and no exchange needs declaring:
 *
 *   publish ──▶ <work> ──consumer threw──▶ <work>.retry.<tier> ──TTL expired (DLX "")──▶ <work>
 *                  └──────verdict 'dead-letter' or malformed──▶ <work>.dead-letter
 *
 * Every queue is a durable quorum queue (RabbitMQ docs, "Quorum Queues"): replicated, and the
 * broker counts returned deliveries in the `x-delivery-count` header, which is how a redelivery
 * after a consumer died is counted as an attempt.
 */
export interface QueueNames {
  /** Where batches wait for a consumer. */
  work: string;
  /** Batches given up on: kept for operators, never consumed by the platform. */
  deadLetter: string;
  /** Retry delay queues, shortest tier first. */
  delays: DelayQueue[];
}

/** One retry delay queue: it holds copies whose backoff is at most `upToMs` (and above the previous tier's). */
export interface DelayQueue {
  name: string;
  /** Upper bound of the backoffs routed here (ms); the last tier also takes every longer backoff. */
  upToMs: number;
}

/**
 * Upper bounds (ms) of the retry delay tiers, each 4 times the last. Per-message TTL only expires
 * messages at the head of a queue (RabbitMQ docs, "Time-To-Live and Expiration"), so in one shared
 * delay queue a 10-minute backoff would hold back every 200 ms one behind it. Routing a copy to the
 * first tier whose bound covers its backoff keeps the blocking within a tier: a copy behind a
 * longer one of its tier waits at most until that one expires, so a backoff d in the tier (T/4, T]
 * is served after d to T, never more than 4 d; in the common case (a tier's copies share a backoff
 * policy) it is d. Six tiers cover RETRY_MAX_DELAY_MS's whole range (up to 600 s).
 */
export const DELAY_TIERS_MS: readonly number[] = [1_000, 4_000, 16_000, 64_000, 256_000, 1_024_000];

/** The names derived from the work queue's name: `<work>.dead-letter` and `<work>.retry.<bound>s`. */
export function queueNames(work: string): QueueNames {
  return {
    work,
    deadLetter: `${work}.dead-letter`,
    delays: DELAY_TIERS_MS.map((upToMs) => ({ name: `${work}.retry.${upToMs / 1000}s`, upToMs })),
  };
}

/** The delay queue for a backoff of `delayMs`: the first tier that covers it, else the last. */
export function delayQueueFor(names: QueueNames, delayMs: number): string {
  const tier = names.delays.find((d) => delayMs <= d.upToMs) ?? names.delays[names.delays.length - 1];
  if (!tier) throw new Error('no delay queue declared');
  return tier.name;
}

const QUORUM = { 'x-queue-type': 'quorum' } as const;

/**
 * Dead-lettering that survives a broker failure: the quorum queue keeps a message until the
 * queue it is dead-lettered to confirmed it (RabbitMQ 3.10+, docs "Dead Letter Exchanges", at-least-once
 * dead-lettering). That strategy requires `x-overflow: reject-publish`; no queue here sets a length limit,
 * so nothing is ever rejected for it.
 */
function deadLetterTo(queue: string): Record<string, string> {
  return {
    'x-dead-letter-exchange': '', // the default exchange routes by queue name
    'x-dead-letter-routing-key': queue,
    'x-dead-letter-strategy': 'at-least-once',
    'x-overflow': 'reject-publish',
  };
}

/**
 * Declares every queue (idempotent: AMQP 0-9-1 queue.declare of an existing queue with the same
 * arguments is a no-op). Runs on every connection, so a broker that lost its definitions gets
 * them back on reconnect.
 *
 * Rejects, and the broker closes `channel` with 406 PRECONDITION_FAILED, when a queue of one of
 * these names already exists with other arguments (for example a classic queue created by hand).
 */
export async function declareTopology(channel: Channel, names: QueueNames): Promise<void> {
  await channel.assertQueue(names.deadLetter, { durable: true, arguments: QUORUM });
  // The work queue dead-letters too, although the adapter never rejects: whatever the broker
  // itself drops (a delivery limit, which RabbitMQ 4 sets to 20 by default) lands with the dead
  // letters instead of vanishing.
  await channel.assertQueue(names.work, { durable: true, arguments: { ...QUORUM, ...deadLetterTo(names.deadLetter) } });
  for (const delay of names.delays) {
    // Never consumed: a copy only leaves by expiring, and then goes back to the work queue.
    await channel.assertQueue(delay.name, { durable: true, arguments: { ...QUORUM, ...deadLetterTo(names.work) } });
  }
}

/** Every queue of the topology, for depth and for tests that clean up. */
export function allQueues(names: QueueNames): string[] {
  return [names.work, names.deadLetter, ...names.delays.map((d) => d.name)];
}

/**
 * Whether `error` is the broker's 404 NOT_FOUND, its answer to an operation on a queue that does
 * not exist (amqplib puts the AMQP reply code on the error as `code`). The adapter only ever names
 * its own queues, so this means one of the topology's queues is gone.
 */
export function isQueueMissing(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 404;
}
