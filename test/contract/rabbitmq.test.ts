import { pino } from 'pino';
import { openRabbitBatchQueue } from '../../src/adapters/rabbitmq/rabbitBatchQueue';
import { deleteQueues } from '../../scripts/realServers';
import { describeWithServices, services, uniqueName } from '../support/services';
import { describeBatchQueueContract } from './batchQueue.contract';

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
        await deleteQueues(services.rabbitmqUrl!, [queue.names.work]);
      },
    };
  });
});
