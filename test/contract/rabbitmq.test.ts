import { connect } from 'amqplib';
import { pino } from 'pino';
import { openRabbitBatchQueue } from '../../src/adapters/rabbitmq/rabbitBatchQueue';
import { allQueues } from '../../src/adapters/rabbitmq/topology';
import { describeWithServices, services, uniqueName } from '../support/services';
import { describeBatchQueueContract } from './batchQueue.contract';

/** Deletes a test's queues (the work queue, its delay tiers and its dead letters) on a connection of its own. */
async function deleteQueues(names: string[]): Promise<void> {
  const connection = await connect(services.rabbitmqUrl!);
  try {
    const channel = await connection.createChannel();
    for (const name of names) await channel.deleteQueue(name);
  } finally {
    await connection.close();
  }
}

describeWithServices('RabbitMQ adapter', ['rabbitmq'], () => {
  // A queue name per test: tests never see each other's batches, and nothing is purged.
  describeBatchQueueContract('rabbitmq', async (retry) => {
    const queue = await openRabbitBatchQueue(
      { rabbitmqUrl: services.rabbitmqUrl!, rabbitmqManagementUrl: services.rabbitmqManagementUrl ?? null, rabbitmqQueue: uniqueName('contract') },
      { retry, logger: pino({ level: 'silent' }) },
    );
    return {
      queue,
      cleanup: async () => {
        await queue.close();
        await deleteQueues(allQueues(queue.names));
      },
    };
  });
});
