import { connect, type ChannelModel } from 'amqplib';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openRabbitBatchQueue, type RabbitBatchQueue, type RabbitQueueOptions } from '../../src/adapters/rabbitmq/rabbitBatchQueue';
import { allQueues, queueNames } from '../../src/adapters/rabbitmq/topology';
import type { BatchConsumer, Subscription } from '../../src/queue/batchQueue';
import { describeWithServices, services, uniqueName } from '../support/services';
import { waitFor } from '../support/waitFor';

/**
 * How the RabbitMQ adapter reports and recovers, against the real broker: errors reported once.
 * Every test works on queues of its own name and deletes only those.
 */
describeWithServices('RabbitMQ batch queue recovery', ['rabbitmq'], () => {
  let name: string;
  let queues: RabbitBatchQueue[];
  let subscriptions: Subscription[];
  let raw: ChannelModel;

  beforeEach(async () => {
    name = uniqueName('rabbit_recovery');
    queues = [];
    subscriptions = [];
    raw = await connect(services.rabbitmqUrl!);
  });

  afterEach(async () => {
    for (const subscription of subscriptions) await subscription.stop();
    for (const queue of queues) await queue.close();
    const channel = await raw.createChannel();
    for (const queueName of allQueues(queueNames(name))) await channel.deleteQueue(queueName);
    await raw.close();
  });

  /** A fresh adapter on this test's queue (no management API: unacked is not what these tests are about); its log lines land in `lines`. */
  async function open(options: Partial<RabbitQueueOptions> = {}) {
    const lines: { level: number; msg: string; err?: { message: string } }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const queue = await openRabbitBatchQueue(
      { rabbitmqUrl: services.rabbitmqUrl!, rabbitmqManagementUrl: null, rabbitmqQueue: name },
      { retry: { backoffMs: () => 200 }, logger, reconnect: { maxDelayMs: 300 }, ...options },
    );
    queues.push(queue);
    return { queue, lines };
  }

  async function consume(queue: RabbitBatchQueue, consumer: BatchConsumer, withOnError = true) {
    const errors: Error[] = [];
    const subscription = await queue.consume(consumer, { concurrency: 1, ...(withOnError ? { onError: (error: Error) => errors.push(error) } : {}) });
    subscriptions.push(subscription);
    return { subscription, errors };
  }

  describe('errors', () => {
    it('reports a queue error once: to onError when the subscription has one, else to its own log', async () => {
      const { queue, lines } = await open();
      const queueErrors = () => lines.filter((l) => l.msg === 'RabbitMQ queue error');
      const publishMalformed = async () => {
        const channel = await raw.createConfirmChannel();
        channel.sendToQueue(name, Buffer.from('not json'), { persistent: true });
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
