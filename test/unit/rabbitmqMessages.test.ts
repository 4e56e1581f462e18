import type { Message } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { attemptOf, batchMessage, deadLetterCopy, pendingDeadLetterOf, retryCopy } from '../../src/adapters/rabbitmq/batchMessages';
import { parseBatchMessage } from '../../src/queue/batchMessage';
import { PendingDeadLetters } from '../../src/adapters/rabbitmq/settlement';
import { delayQueueFor, queueNames } from '../../src/adapters/rabbitmq/topology';
import { makeBatch } from '../support/fixtures';

/**
 * The RabbitMQ adapter's message rules that need no broker: how an attempt is counted from the
 * headers of any RabbitMQ version, how a dead-letter verdict travels with a handed-back copy, what
 * a payload must hold, and which delay tier a backoff takes.
 */
function delivered(headers: Record<string, unknown> | undefined, content: Buffer = Buffer.from('{}'), messageId?: string): Message {
  return { content, fields: {} as Message['fields'], properties: { headers, messageId } as Message['properties'] };
}

describe('RabbitMQ batch messages', () => {
  it('counts the copy\'s attempt plus every redelivery the broker counted', () => {
    expect(attemptOf(delivered(undefined))).toBe(1);
    expect(attemptOf(delivered({ 'x-bulk-attempt': 3 }))).toBe(3);
    // RabbitMQ 3.10 to 4.2: every return counts in x-delivery-count.
    expect(attemptOf(delivered({ 'x-bulk-attempt': 3, 'x-delivery-count': 2 }))).toBe(5);
    // RabbitMQ 4.3: x-delivery-count counts failed returns only, x-acquired-count every one.
    expect(attemptOf(delivered({ 'x-bulk-attempt': 1, 'x-delivery-count': 1, 'x-acquired-count': 3 }))).toBe(4);
    // A header that is not a positive integer counts as absent.
    expect(attemptOf(delivered({ 'x-bulk-attempt': 'two', 'x-delivery-count': -1 }))).toBe(1);
  });

  it('gives a retry copy the next attempt, its backoff as expiration, and no broker counters', () => {
    const original = batchMessage('work', makeBatch('action-a', 2));
    const copy = retryCopy(delivered({ ...original.properties.headers, 'x-delivery-count': 1 }, original.content), 'work.retry.1s', 3, 250.4, 'boom');
    expect(copy).toMatchObject({ queue: 'work.retry.1s', content: original.content, properties: { persistent: true, expiration: '250', headers: { 'x-bulk-attempt': 3, 'x-bulk-last-error': 'boom' } } });
    expect(copy.properties.headers).not.toHaveProperty('x-delivery-count');
  });

  it('keeps a pending dead-letter verdict on every retry copy, and never puts it on the dead letter itself', () => {
    const carrier = retryCopy(delivered({ 'x-bulk-attempt': 1 }), 'work.retry.1s', 2, 300, 'nacked', 'the consumer gave up on the batch');
    expect(carrier.properties.headers).toMatchObject({ 'x-bulk-pending-dead-letter': 'the consumer gave up on the batch' });
    const handedBack = delivered(carrier.properties.headers);
    expect(pendingDeadLetterOf(handedBack)).toBe('the consumer gave up on the batch');
    // The consumer of the handed-back copy threw: its retry copy carries the verdict on.
    expect(retryCopy(handedBack, 'work.retry.1s', 3, 200, 'transient').properties.headers).toMatchObject({ 'x-bulk-pending-dead-letter': 'the consumer gave up on the batch' });
    expect(deadLetterCopy(handedBack, 'work.dead-letter', 3, 'the consumer gave up on the batch').properties.headers).not.toHaveProperty('x-bulk-pending-dead-letter');
    expect(pendingDeadLetterOf(delivered({ 'x-bulk-dead-letter-reason': 'replayed by an operator' }))).toBeNull();
    expect(pendingDeadLetterOf(delivered({ 'x-bulk-pending-dead-letter': Buffer.from('as bytes') }))).toBe('as bytes');
  });

  it('remembers pending dead-letter verdicts by message id, at most `limit`, dropping the oldest', () => {
    const pending = new PendingDeadLetters(2);
    const message = (id?: string) => delivered(undefined, Buffer.from('{}'), id);
    pending.remember(message('a:0'), 'gave up');
    pending.remember(message(), 'malformed'); // no id: nothing to find it by
    pending.remember(message('a:1'), 'gave up');
    pending.remember(message('a:2'), 'gave up');
    expect([pending.reasonFor(message('a:0')), pending.reasonFor(message('a:1')), pending.reasonFor(message('a:2'))]).toEqual([null, 'gave up', 'gave up']);
    pending.forget(message('a:1'));
    expect(pending.reasonFor(message('a:1'))).toBeNull();
  });

  it('accepts a batch with extra fields and refuses what the core cannot use', () => {
    const batch = makeBatch('action-a', 0, { firstSeqs: [0, 0, 1] });
    expect(parseBatchMessage(JSON.stringify(batch))).toEqual(batch);
    const broken = (change: Record<string, unknown>) => () => parseBatchMessage(JSON.stringify({ ...batch, ...change }));
    expect(broken({ actionId: '' })).toThrow(/actionId/);
    expect(broken({ batchNo: -1 })).toThrow(/batchNo/);
    expect(broken({ seqs: [1, 2] })).toThrow(/seqs/);
    expect(broken({ entityIds: [1, 2, 3] })).toThrow(/entityIds/);
    expect(broken({ firstSeqs: [0] })).toThrow(/firstSeqs/);
    expect(broken({ fieldsToUpdate: [] })).toThrow(/fieldsToUpdate/);
    expect(() => parseBatchMessage('[1]')).toThrow(/not a JSON object/);
  });

  it('routes a backoff to the first delay tier that covers it, and the longest beyond the last', () => {
    const names = queueNames('work');
    expect(delayQueueFor(names, 0)).toBe('work.retry.1s');
    expect(delayQueueFor(names, 1_000)).toBe('work.retry.1s');
    expect(delayQueueFor(names, 1_001)).toBe('work.retry.4s');
    expect(delayQueueFor(names, 600_000)).toBe('work.retry.1024s');
    expect(delayQueueFor(names, 5_000_000)).toBe('work.retry.1024s');
  });
});
