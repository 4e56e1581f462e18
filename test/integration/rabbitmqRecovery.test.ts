import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_REASON_HEADER, PENDING_DEAD_LETTER_HEADER, type OutgoingMessage } from '../../src/adapters/rabbitmq/batchMessages';
import { openRabbitBatchQueue, type RabbitBatchQueue, type RabbitQueueOptions } from '../../src/adapters/rabbitmq/rabbitBatchQueue';
import type { BatchConsumer } from '../../src/queue/batchQueue';
import { makeBatch } from '../support/fixtures';
import { useRabbitQueues } from '../support/rabbitQueues';
import { describeWithServices, services } from '../support/services';
import { waitFor } from '../support/waitFor';

/**
 * How the RabbitMQ adapter recovers, against the real broker: queues deleted under a live
 * connection (declared again on the 404, no reconnection needed), dead-letter verdicts that
 * survive a failed dead-letter publish, and errors reported once. Every test works on queues of
 * its own name and deletes only those.
 */
describeWithServices('RabbitMQ batch queue recovery', ['rabbitmq'], () => {
  const rabbit = useRabbitQueues('rabbit_recovery');

  /** A fresh adapter on this test's queue (no management API: unacked is not what these tests are about); its log lines land in `lines`. */
  async function open(options: Partial<RabbitQueueOptions> = {}) {
    const lines: { level: number; msg: string; err?: { message: string } }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const queue = await openRabbitBatchQueue(
      { rabbitmqUrl: services.rabbitmqUrl!, rabbitmqManagementUrl: null, rabbitmqQueue: rabbit.name },
      { retry: { backoffMs: () => 200 }, logger, reconnect: { maxDelayMs: 300 }, ...options },
    );
    return { queue: rabbit.adopt(queue), lines };
  }

  const consume = (queue: RabbitBatchQueue, consumer: BatchConsumer, withOnError = true) => rabbit.consume(queue, consumer, { onError: withOnError });

  const gate = rabbit.gate;

  /** queue.delete on a connection of the test's own, as an operator would (the management API's DELETE does the same). */
  async function deleteQueue(queueName: string): Promise<void> {
    const channel = await rabbit.raw.createChannel();
    await channel.deleteQueue(queueName);
    await channel.close();
  }

  /** The queue's consumer count, or null while it does not exist (the 404 closes the channel it was asked on). */
  async function consumersOf(queueName: string): Promise<number | null> {
    const channel = await rabbit.raw.createChannel();
    channel.on('error', () => undefined);
    try {
      const { consumerCount } = await channel.checkQueue(queueName);
      await channel.close();
      return consumerCount;
    } catch {
      return null;
    }
  }

  /** Every message of `queue`, taken off it. */
  async function drain(queueName: string) {
    const channel = await rabbit.raw.createChannel();
    const messages = [];
    for (let message = await channel.get(queueName, { noAck: true }); message; message = await channel.get(queueName, { noAck: true })) messages.push(message);
    await channel.close();
    return messages;
  }

  /** A `faults.beforePublish` that fails the first `times` publishes to queues `which` picks. */
  function failPublishes(times: number, which: (message: OutgoingMessage) => boolean) {
    const failed: string[] = [];
    return {
      failed,
      beforePublish: (message: OutgoingMessage) => {
        if (failed.length >= times || !which(message)) return;
        failed.push(message.queue);
        throw new Error(`injected publish failure to ${message.queue}`);
      },
    };
  }

  describe('a deleted queue', () => {
    it('declares the work queue again when it is deleted mid-consumption, and consumes what is published next', async () => {
      const { queue } = await open();
      await queue.publish([makeBatch('action-a', 0), makeBatch('action-a', 1)]);
      const held = gate();
      const received: string[] = [];
      const { errors } = await consume(queue, async (batch) => {
        received.push(`${batch.actionId}:${batch.batchNo}`);
        if (received.length === 1) await held.promise;
        return 'ack';
      });
      await waitFor(() => received.length === 1, 5_000, 'a batch in flight');

      await deleteQueue(rabbit.name); // with batch 1 ready and batch 0 unacked: both go with it
      await waitFor(() => errors.length > 0, 5_000, 'the cancelled consumer noticed');
      held.open(); // batch 0 ends on the closed channel (dropped, never thrown); then the subscription consumes again
      // Nothing but the subscription itself declares the queue again and consumes from it.
      await waitFor(async () => (await consumersOf(rabbit.name)) === 1, 10_000, 'the work queue declared again, with its consumer back');

      await queue.publish([makeBatch('action-b', 0)]);
      await waitFor(() => received.includes('action-b:0'), 5_000, 'a batch published after the deletion consumed');
      expect(received).toEqual(['action-a:0', 'action-b:0']);
      await waitFor(async () => (await queue.depth()).ready === 0, 5_000, 'the work queue empty');
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/consumer channel .* closed \(the broker cancelled the consumer/)]);
    });

    it('publishes to a deleted work queue once it declared the queue again', async () => {
      const { queue, lines } = await open();
      await deleteQueue(rabbit.name);
      await queue.publish([makeBatch('action-a', 0)]);
      expect((await drain(rabbit.name)).map((m) => m.properties.messageId)).toEqual(['action-a:0']);
      expect(lines.filter((l) => l.msg === 'RabbitMQ queue missing; topology declared again')).toHaveLength(1);
    });

    it('rejects a publish whose queue is missing again right after it was declared again: it retries once, not in a loop', async () => {
      const deletions: string[] = [];
      const { queue } = await open({
        faults: {
          beforePublish: async (message) => {
            deletions.push(message.queue);
            await deleteQueue(message.queue);
          },
        },
      });
      await expect(queue.publish([makeBatch('action-a', 0)])).rejects.toThrow(new RegExp(`unroutable: queue ${rabbit.name} does not exist`));
      expect(deletions).toEqual([rabbit.name, rabbit.name]);
    });

    it('reads depth after declaring deleted queues again, instead of failing until the next reconnection', async () => {
      const { queue } = await open();
      await deleteQueue(rabbit.name);
      await deleteQueue(queue.names.deadLetter);
      expect(await queue.depth()).toEqual({ ready: 0, unacked: null, delayed: 0, deadLettered: 0 });
      expect(await consumersOf(rabbit.name)).toBe(0);
      expect(await consumersOf(queue.names.deadLetter)).toBe(0);
    });

    it('publishes a retry copy to a deleted delay queue once it declared the queue again: the batch comes back after its backoff', async () => {
      const { queue } = await open();
      await deleteQueue(queue.names.delays[0]!.name); // where a 200 ms backoff waits
      await queue.publish([makeBatch('action-a', 0)]);
      const received: { attempt: number; at: number }[] = [];
      const { errors } = await consume(queue, async (_batch, delivery) => {
        received.push({ attempt: delivery.attempt, at: Date.now() });
        if (delivery.attempt === 1) throw new Error('transient');
        return 'ack';
      });
      await waitFor(() => received.length >= 2, 10_000, 'the batch back from its delay queue');
      expect(received.map((r) => r.attempt)).toEqual([1, 2]);
      expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(200 - 20);
      expect(errors).toEqual([]);
    });
  });

  describe('dead-letter verdicts', () => {
    it('dead-letters a batch whose dead-letter copy failed, although its next delivery answers ack', async () => {
      const faults = failPublishes(1, (m) => m.queue === `${rabbit.name}.dead-letter`);
      const { queue } = await open({ faults });
      await queue.publish([makeBatch('action-a', 0)]);
      const received: { attempt: number; at: number }[] = [];
      const { errors } = await consume(queue, async (_batch, delivery) => {
        received.push({ attempt: delivery.attempt, at: Date.now() });
        // As processBatch does: the first delivery gives up, the next finds every entity settled.
        return delivery.attempt === 1 ? 'dead-letter' : 'ack';
      });
      await waitFor(async () => (await queue.depth()).deadLettered === 1, 10_000, 'the dead letter');
      expect(faults.failed).toEqual([queue.names.deadLetter]);
      expect(received.map((r) => r.attempt)).toEqual([1, 2]);
      expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(300 - 20); // handed back after the pause, not at once
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/could not dead-letter .*injected publish failure.*handed it back with its dead-letter verdict, delivered again in 300 ms/)]);

      const [deadLetter] = await drain(queue.names.deadLetter);
      expect(JSON.parse(deadLetter!.content.toString())).toEqual(makeBatch('action-a', 0));
      expect(deadLetter!.properties.headers?.[DEAD_LETTER_REASON_HEADER]).toBe('the consumer gave up on the batch');
      // A dead letter an operator moves back to the work queue must run as a new batch, not be dead-lettered again.
      expect(deadLetter!.properties.headers).not.toHaveProperty(PENDING_DEAD_LETTER_HEADER);
      expect(await queue.depth()).toMatchObject({ ready: 0, delayed: 0 });
    });

    it('keeps the verdict through a retry: the handed-back batch whose consumer throws is still dead-lettered on its next ack', async () => {
      const faults = failPublishes(1, (m) => m.queue === `${rabbit.name}.dead-letter`);
      const { queue } = await open({ faults });
      await queue.publish([makeBatch('action-a', 0)]);
      const verdicts: BatchConsumer[] = [async () => 'dead-letter', async () => Promise.reject(new Error('transient')), async () => 'ack'];
      const attempts: number[] = [];
      await consume(queue, async (batch, delivery) => {
        attempts.push(delivery.attempt);
        return (verdicts.shift() ?? (async () => 'ack'))(batch, delivery);
      });
      await waitFor(async () => (await queue.depth()).deadLettered === 1, 10_000, 'the dead letter');
      expect(attempts).toEqual([1, 2, 3]);
    });

    it('dead-letters it on its redelivery to this process when the copy carrying the verdict failed too', async () => {
      const faults = failPublishes(2, (m) => m.queue !== rabbit.name); // the dead letter, then the copy carrying its verdict
      const { queue } = await open({ faults });
      await queue.publish([makeBatch('action-a', 0)]);
      const attempts: number[] = [];
      const { errors } = await consume(queue, async (_batch, delivery) => {
        attempts.push(delivery.attempt);
        return delivery.attempt === 1 ? 'dead-letter' : 'ack';
      });
      await waitFor(async () => (await queue.depth()).deadLettered === 1, 10_000, 'the dead letter');
      expect(faults.failed).toEqual([queue.names.deadLetter, queue.names.delays[0]!.name]);
      expect(attempts).toEqual([1, 2]); // the original, requeued: the broker counted the return
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/could not settle .*handing it back with its verdict failed too.*requeueing it in 300 ms/)]);
    });
  });

  describe('errors', () => {
    it('reports a queue error once: to onError when the subscription has one, else to its own log', async () => {
      const { queue, lines } = await open();
      const queueErrors = () => lines.filter((l) => l.msg === 'RabbitMQ queue error');
      const publishMalformed = async () => {
        const channel = await rabbit.raw.createConfirmChannel();
        channel.sendToQueue(rabbit.name, Buffer.from('not json'), { persistent: true });
        await channel.waitForConfirms();
        await channel.close();
      };

      await publishMalformed();
      const { subscription, errors } = await consume(queue, async () => 'ack');
      await waitFor(async () => (await queue.depth()).deadLettered === 1, 5_000, 'the first malformed message dead-lettered');
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/malformed.*not JSON/)]);
      expect(queueErrors()).toEqual([]); // the caller logs what reaches onError
      await subscription.stop();

      await publishMalformed();
      await consume(queue, async () => 'ack', false);
      await waitFor(async () => (await queue.depth()).deadLettered === 2, 5_000, 'the second malformed message dead-lettered');
      expect(queueErrors().map((l) => [l.level, l.err?.message])).toEqual([[40, expect.stringMatching(/malformed.*not JSON/)]]);
    });
  });
});
