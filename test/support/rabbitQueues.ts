import { connect, type ChannelModel } from 'amqplib';
import { afterEach, beforeEach } from 'vitest';
import type { RabbitBatchQueue } from '../../src/adapters/rabbitmq/rabbitBatchQueue';
import { allQueues, queueNames } from '../../src/adapters/rabbitmq/topology';
import type { BatchConsumer, Subscription } from '../../src/queue/batchQueue';
import { services, uniqueName } from './services';

/** What a RabbitMQ adapter test works with; `name` and `raw` are new for every test. */
export interface RabbitTestQueues {
  /** This test's work queue: every queue the adapter derives from it is deleted after the test. */
  readonly name: string;
  /** A connection of the test's own, for what a foreign producer or an operator does. */
  readonly raw: ChannelModel;
  /** Closes the queue (after its subscriptions) when the test ends. */
  adopt(queue: RabbitBatchQueue): RabbitBatchQueue;
  /** Consumes with `concurrency` (default 1), stopped when the test ends; queue errors land in `errors` unless `onError` is false. */
  consume(queue: RabbitBatchQueue, consumer: BatchConsumer, options?: { concurrency?: number; onError?: boolean }): Promise<{ subscription: Subscription; errors: Error[] }>;
  /** A promise the test opens when it chooses; every gate is opened before clean-up, so no consumer stays blocked. */
  gate(): { promise: Promise<void>; open: () => void };
}

/**
 * Registers beforeEach/afterEach (call it inside a describe) that give each test queues of its own
 * name on the broker at RABBITMQ_URL, and remove them, its subscriptions and its connections after it.
 */
export function useRabbitQueues(prefix: string): RabbitTestQueues {
  let name = '';
  let raw: ChannelModel;
  let queues: RabbitBatchQueue[] = [];
  let subscriptions: Subscription[] = [];
  let gates: (() => void)[] = [];

  beforeEach(async () => {
    name = uniqueName(prefix);
    queues = [];
    subscriptions = [];
    gates = [];
    raw = await connect(services.rabbitmqUrl!);
  });

  afterEach(async () => {
    for (const open of gates) open();
    for (const subscription of subscriptions) await subscription.stop();
    for (const queue of queues) await queue.close();
    const channel = await raw.createChannel();
    for (const queueName of allQueues(queueNames(name))) await channel.deleteQueue(queueName);
    await raw.close();
  });

  return {
    get name() {
      return name;
    },
    get raw() {
      return raw;
    },
    adopt: (queue) => {
      queues.push(queue);
      return queue;
    },
    consume: async (queue, consumer, { concurrency = 1, onError = true } = {}) => {
      const errors: Error[] = [];
      const subscription = await queue.consume(consumer, { concurrency, ...(onError ? { onError: (error: Error) => errors.push(error) } : {}) });
      subscriptions.push(subscription);
      return { subscription, errors };
    },
    gate: () => {
      let open = () => {};
      const promise = new Promise<void>((resolve) => (open = resolve));
      gates.push(open);
      return { promise, open };
    },
  };
}
