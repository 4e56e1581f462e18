import type { Message, Options } from 'amqplib';
import type { BatchIdentity } from '../../queue/batchQueue';
import type { BatchMessage } from '../../types/entities';

/**
 * How a batch travels as an AMQP 0-9-1 message: its JSON in the body (content-type
 * application/json), persistent (delivery-mode 2: written to disk by the broker), a message-id
 * `actionId:batchNo` that operators can search for, and headers of our own:
 * - `x-bulk-attempt`: the attempt this copy's first delivery is (1 when published, n + 1 on the
 *   retry copy of a delivery n that threw);
 * - `x-bulk-last-error`: on a retry copy, why the previous attempt failed (for operators);
 * - `x-bulk-dead-letter-reason`: on a dead letter, why it is there;
 * - `x-bulk-pending-dead-letter`: on a copy handed back to the work queue (through a delay queue)
 *   because its dead-letter copy could not be published, the verdict's reason: it is dead-lettered
 *   on its next settlement whatever the consumer answers then. Its consumer will find the entities
 *   settled and answer 'ack', and the verdict would be lost. A separate header from the dead
 *   letter's own, so that a dead letter an operator moves back to the work queue runs normally.
 */
export const ATTEMPT_HEADER = 'x-bulk-attempt';
export const LAST_ERROR_HEADER = 'x-bulk-last-error';
export const DEAD_LETTER_REASON_HEADER = 'x-bulk-dead-letter-reason';
export const PENDING_DEAD_LETTER_HEADER = 'x-bulk-pending-dead-letter';

/**
 * Set by quorum queues on a redelivery (RabbitMQ docs, "Quorum Queues", poison message handling):
 * up to RabbitMQ 4.2, how many earlier deliveries of this message went back unsettled. RabbitMQ 4.3
 * narrowed it to failed ones (basic.reject, a closed channel) and counts every earlier acquisition
 * in `x-acquired-count` instead (4.3 release notes, "unlimited returns").
 */
const DELIVERY_COUNT_HEADER = 'x-delivery-count';
const ACQUIRED_COUNT_HEADER = 'x-acquired-count';

/** Header values are free text to the broker; keep operator notes short. */
const MAX_NOTE_LENGTH = 500;

/** One message to publish with a confirm, straight to `queue` through the default exchange. */
export interface OutgoingMessage {
  queue: string;
  content: Buffer;
  properties: Options.Publish;
}

/** The batch a message is about, from its message-id `actionId:batchNo`; undefined for a message without one (a malformed one, say). */
export function batchIdentityOf(message: Pick<Message, 'properties'>): BatchIdentity | undefined {
  const id: unknown = message.properties.messageId;
  const match = typeof id === 'string' ? /^(.+):(\d+)$/.exec(id) : null;
  return match ? { actionId: match[1]!, batchNo: Number(match[2]) } : undefined;
}

/** The first publication of a batch. */
export function batchMessage(queue: string, batch: BatchMessage): OutgoingMessage {
  return {
    queue,
    content: Buffer.from(JSON.stringify(batch)),
    properties: {
      persistent: true,
      contentType: 'application/json',
      messageId: `${batch.actionId}:${batch.batchNo}`,
      headers: { [ATTEMPT_HEADER]: 1 },
    },
  };
}

/**
 * The copy of a delivered batch that waits out its backoff in a delay queue. `expiration` is the
 * per-message TTL (ms, as a decimal string per the AMQP property); when it runs out the broker
 * dead-letters the copy back to the work queue and strips the expiration, so it does not expire
 * there. Only our headers are carried over: the new copy has no `x-delivery-count` of its own.
 * `pendingDeadLetter`: the reason of a dead-letter verdict the copy must carry (see
 * PENDING_DEAD_LETTER_HEADER); by default the delivered copy's own, so a retry never drops it.
 */
export function retryCopy(
  delivered: Message,
  delayQueue: string,
  nextAttempt: number,
  delayMs: number,
  lastError: string,
  pendingDeadLetter: string | null = pendingDeadLetterOf(delivered),
): OutgoingMessage {
  return {
    queue: delayQueue,
    content: delivered.content,
    properties: {
      ...carriedProperties(delivered),
      expiration: String(Math.max(0, Math.round(delayMs))),
      headers: {
        [ATTEMPT_HEADER]: nextAttempt,
        [LAST_ERROR_HEADER]: lastError.slice(0, MAX_NOTE_LENGTH),
        ...(pendingDeadLetter === null ? {} : { [PENDING_DEAD_LETTER_HEADER]: pendingDeadLetter.slice(0, MAX_NOTE_LENGTH) }),
      },
    },
  };
}

/** The reason of the dead-letter verdict a delivered copy carries (PENDING_DEAD_LETTER_HEADER), or null. */
export function pendingDeadLetterOf(delivered: Message): string | null {
  const value: unknown = delivered.properties.headers?.[PENDING_DEAD_LETTER_HEADER];
  if (typeof value === 'string') return value;
  return Buffer.isBuffer(value) ? value.toString('utf8') : null;
}

/** The copy kept in the dead-letter queue, with the attempt it ended on and why. */
export function deadLetterCopy(delivered: Message, deadLetterQueue: string, attempt: number, reason: string): OutgoingMessage {
  return {
    queue: deadLetterQueue,
    content: delivered.content,
    properties: {
      ...carriedProperties(delivered),
      headers: { [ATTEMPT_HEADER]: attempt, [DEAD_LETTER_REASON_HEADER]: reason.slice(0, MAX_NOTE_LENGTH) },
    },
  };
}

function carriedProperties(delivered: Message): Options.Publish {
  const { messageId, contentType } = delivered.properties as { messageId?: unknown; contentType?: unknown };
  return {
    persistent: true,
    ...(typeof messageId === 'string' ? { messageId } : {}),
    ...(typeof contentType === 'string' ? { contentType } : {}),
  };
}

/**
 * Which attempt this delivery is: the copy's own attempt (`x-bulk-attempt`, 1 if absent or not a
 * positive integer) plus the redeliveries the broker counted for this copy (absent on a first
 * delivery, n after n returns: a channel or connection closed with the message unacked, as when its
 * consumer's process died; the larger of the two broker counters, so that every version counts
 * every return). So every delivery counts exactly once, whether it came from a retry (a new copy)
 * or from a redelivery (the same copy again).
 */
export function attemptOf(delivered: Message): number {
  const headers = delivered.properties.headers ?? {};
  const base = positiveInteger(headers[ATTEMPT_HEADER]) ?? 1;
  const redeliveries = Math.max(positiveInteger(headers[DELIVERY_COUNT_HEADER]) ?? 0, positiveInteger(headers[ACQUIRED_COUNT_HEADER]) ?? 0);
  return base + redeliveries;
}

function positiveInteger(value: unknown): number | null {
  const n = typeof value === 'bigint' ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : null;
}
