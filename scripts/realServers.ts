import amqp from 'amqplib';
import { MongoClient } from 'mongodb';
import { allQueues, queueNames } from '../src/adapters/rabbitmq/topology';

/**
 * Removing what a benchmark run or a distributed-mode test created on the real servers: its own
 * databases and its own queues. Tools may use the drivers for this; the product's code reaches
 * them only through its adapters.
 */

/** Drops each named database on the MongoDB server at `mongodbUrl`, on one connection. */
export async function dropDatabases(mongodbUrl: string, names: string[]): Promise<void> {
  const client = await MongoClient.connect(mongodbUrl);
  try {
    for (const name of names) await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}

/**
 * Deletes every queue that the RabbitMQ adapter derives from each of these work queue names
 * (src/adapters/rabbitmq/topology.ts: the work queue, its delay tiers and its dead letters).
 * Deleting a queue that was never declared is not an error in AMQP 0-9-1 (RabbitMQ answers delete-ok).
 */
export async function deleteQueues(rabbitmqUrl: string, workQueues: string[]): Promise<void> {
  if (workQueues.length === 0) return;
  const connection = await amqp.connect(rabbitmqUrl);
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
