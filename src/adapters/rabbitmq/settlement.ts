import type { ConsumeMessage, Message } from 'amqplib';
import { toError } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { BatchConsumer, BatchIdentity, BatchVerdict, QueueRetry } from '../../queue/batchQueue';
import { MalformedBatchError, parseBatchMessage } from '../../queue/batchMessage';
import { attemptOf, batchIdentityOf, deadLetterCopy, pendingDeadLetterOf, retryCopy, type OutgoingMessage } from './batchMessages';
import type { ReconnectPolicy } from './connection';
import type { ConsumerSession } from './consumerSession';
import type { ConfirmedPublisher } from './publisher';
import { delayQueueFor, type QueueNames } from './topology';

export interface SettlementDeps {
  publisher: ConfirmedPublisher;
  names: QueueNames;
  retry: QueueRetry;
  logger: Logger;
  /**
   * The backoff of reopening a consumer channel; its `maxDelayMs` is also the least a batch waits
   * before it is handed back after a failed settlement.
   */
  reconnect: ReconnectPolicy;
  /** Bound on publishing a retry or dead-letter copy (ms). */
  publishTimeoutMs: number;
  pendingDeadLetters: PendingDeadLetters;
}

/** What settling needs from its subscription. */
export interface SettlementContext {
  deps: SettlementDeps;
  consumer: BatchConsumer;
  /** Reports an error of the queue, once, with the batch it is about when known. */
  report(error: unknown, batch?: BatchIdentity): void;
  /** Sleeps `ms` unless the subscription stops meanwhile (then at once). */
  pause(ms: number): Promise<unknown>;
}

/** What the consumer made of one delivery. */
type Result = { verdict: BatchVerdict } | { failure: Error } | { malformed: MalformedBatchError };

/** A copy to publish before the delivery is acked; `deadLetterReason` is set on a dead letter. */
interface Copy {
  message: OutgoingMessage;
  delayMs: number;
  deadLetterReason: string | null;
}

const GAVE_UP = 'the consumer gave up on the batch';

/**
 * Runs the consumer on one delivery and settles it on `session` (see RabbitSubscription for the
 * rules). Never rejects for the consumer's or the broker's failures: they are reported.
 */
export async function settleDelivery(context: SettlementContext, session: ConsumerSession, message: ConsumeMessage): Promise<void> {
  const { deps } = context;
  const attempt = attemptOf(message);
  const result = await run(context.consumer, message, attempt);
  if (!session.isOpen) {
    deps.logger.debug({ queue: deps.names.work, ...batchIdentityOf(message), attempt }, 'delivery abandoned: its channel closed, the broker delivers it again');
    return;
  }
  let copy: Copy | null = null;
  try {
    copy = copyFor(context, message, attempt, result);
    if (copy) await deps.publisher.publish([copy.message], deps.publishTimeoutMs);
  } catch (error) {
    // A closed channel has handed the batch back already.
    if (session.isOpen) await handBack(context, session, message, attempt, copy, toError(error));
    return;
  }
  if (copy?.deadLetterReason != null) deps.pendingDeadLetters.forget(message);
  session.ack(message);
}

async function run(consumer: BatchConsumer, message: ConsumeMessage, attempt: number): Promise<Result> {
  let batch;
  try {
    batch = parseBatchMessage(message.content.toString('utf8'));
  } catch (error) {
    return { malformed: error as MalformedBatchError };
  }
  try {
    return { verdict: await consumer(batch, { attempt }) };
  } catch (error) {
    return { failure: toError(error) }; // the consumer's own business: it reports why
  }
}

/**
 * The copy that settles a delivery, or null for a plain ack. A dead-letter verdict given to an
 * earlier delivery of this batch (carried in its headers, or remembered here) wins over 'ack'.
 */
function copyFor(context: SettlementContext, message: ConsumeMessage, attempt: number, result: Result): Copy | null {
  const { names, retry, pendingDeadLetters } = context.deps;
  const pending = pendingDeadLetterOf(message) ?? pendingDeadLetters.reasonFor(message);
  if ('malformed' in result) {
    context.report(new Error(`malformed batch message ${String(message.properties.messageId ?? '(no message id)')} on ${names.work}: ${result.malformed.message}; moved to ${names.deadLetter}`));
    const reason = `malformed: ${result.malformed.message}`;
    return { message: deadLetterCopy(message, names.deadLetter, attempt, reason), delayMs: 0, deadLetterReason: reason };
  }
  if ('failure' in result) {
    const delayMs = retry.backoffMs(attempt);
    // A NaN or negative expiration would make the broker close the publishing channel.
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`backoffMs(${attempt}) returned ${delayMs}; expected a non-negative number of ms`);
    return { message: retryCopy(message, delayQueueFor(names, delayMs), attempt + 1, delayMs, result.failure.message, pending), delayMs, deadLetterReason: null };
  }
  if (result.verdict === 'ack' && pending === null) return null;
  const reason = pending ?? GAVE_UP;
  return { message: deadLetterCopy(message, names.deadLetter, attempt, reason), delayMs: 0, deadLetterReason: reason };
}

/**
 * The copy that settles the delivery could not be published (it may not exist), so the batch goes
 * back. Not at once: the broker is failing us, and a batch handed back at once would loop hot.
 *
 * A dead letter must keep its verdict: on the next delivery its consumer finds the entities settled
 * and answers 'ack', and no copy would ever reach the dead-letter queue. A requeued message cannot
 * carry a new header, so it goes back as a copy that carries the verdict, through the delay queue
 * of the pause; then the original is acked. If even that copy fails, the original is requeued and
 * this process remembers the verdict (PendingDeadLetters). Any other batch is requeued: its next
 * delivery counts as the next attempt through the broker's delivery count.
 */
async function handBack(context: SettlementContext, session: ConsumerSession, message: ConsumeMessage, attempt: number, copy: Copy | null, error: Error): Promise<void> {
  const { deps } = context;
  const pauseMs = Math.max(copy?.delayMs ?? 0, deps.reconnect.maxDelayMs);
  let cause = error.message;
  if (copy?.deadLetterReason != null) {
    const carrier = retryCopy(message, delayQueueFor(deps.names, pauseMs), attempt + 1, pauseMs, error.message, copy.deadLetterReason);
    try {
      await deps.publisher.publish([carrier], deps.publishTimeoutMs);
      context.report(new Error(`could not dead-letter a batch of ${deps.names.work} (${cause}); handed it back with its dead-letter verdict, delivered again in ${pauseMs} ms`), batchIdentityOf(message));
      session.ack(message);
      return;
    } catch (carrierError) {
      deps.pendingDeadLetters.remember(message, copy.deadLetterReason);
      cause = `${cause}; handing it back with its verdict failed too: ${toError(carrierError).message}`;
    }
  }
  context.report(new Error(`could not settle a batch of ${deps.names.work} (${cause}); requeueing it in ${pauseMs} ms`), batchIdentityOf(message));
  await context.pause(pauseMs);
  session.reject(message);
}

/**
 * Dead-letter verdicts that neither a dead-letter copy nor a copy carrying the verdict could be
 * published for, by message id (`actionId:batchNo`): the original went back to the queue as it was,
 * so only this process knows. Its redelivery here is dead-lettered whatever the consumer answers.
 * The gap left: a redelivery to another process, or after this one ended, is settled as its consumer
 * says; that takes two failed publishes in a row first. A message without an id is not remembered
 * (a malformed one is dead-lettered again anyway). Holds at most `limit` verdicts, oldest dropped.
 */
export class PendingDeadLetters {
  private readonly reasons = new Map<string, string>();

  constructor(private readonly limit = 10_000) {}

  remember(message: Message, reason: string): void {
    const id = idOf(message);
    if (id === null) return;
    this.reasons.delete(id); // re-inserted as the newest
    this.reasons.set(id, reason);
    const oldest = this.reasons.keys().next();
    if (this.reasons.size > this.limit && !oldest.done) this.reasons.delete(oldest.value);
  }

  reasonFor(message: Message): string | null {
    const id = idOf(message);
    return id === null ? null : (this.reasons.get(id) ?? null);
  }

  forget(message: Message): void {
    const id = idOf(message);
    if (id !== null) this.reasons.delete(id);
  }
}

function idOf(message: Message): string | null {
  const id: unknown = message.properties.messageId;
  return typeof id === 'string' && id !== '' ? id : null;
}
