import amqp from 'amqplib';
import { allQueues, queueNames } from '../../src/adapters/rabbitmq/topology';
import type { Services } from './distributedResources';

/**
 * Deletes every queue a run's RABBITMQ_QUEUE names gave rise to: the work queue and the retry and
 * dead-letter queues the adapter derives from it (src/adapters/rabbitmq/topology.ts). Deleting a
 * queue that was never declared is not an error.
 */
export async function deleteQueues(services: Services, workQueues: string[]): Promise<void> {
  if (workQueues.length === 0) return;
  const connection = await amqp.connect(services.rabbitmqUrl);
  try {
    const channel = await connection.createChannel();
    for (const work of workQueues) {
      for (const queue of allQueues(queueNames(work))) await channel.deleteQueue(queue);
    }
    await channel.close();
  } finally {
    await connection.close();
  }
}
