import amqp from 'amqplib';
import { MongoClient } from 'mongodb';

/**
 * Direct access to the real servers, for distributed-mode tests: reading what the platform wrote,
 * and removing what a test created (its own database, its own queues). Tests may use the drivers
 * for this; the product's code reaches them only through its adapters.
 */

/** The stored documents of these entities (MongoDB adapter layout: `entities_<type>`, id as `_id`), in one query. */
export async function findEntities(mongodbUrl: string, database: string, entityType: string, ids: string[]): Promise<Map<string, { accountId: string; data: Record<string, unknown>; createdAt: number; updatedAt: number }>> {
  const client = await MongoClient.connect(mongodbUrl);
  try {
    const docs = await client.db(database).collection<{ _id: string; accountId: string; data: Record<string, unknown>; createdAt: number; updatedAt: number }>(`entities_${entityType}`)
      .find({ _id: { $in: ids } }).toArray();
    return new Map(docs.map(({ _id, ...rest }) => [_id, rest]));
  } finally {
    await client.close();
  }
}

export async function dropDatabase(mongodbUrl: string, database: string): Promise<void> {
  const client = await MongoClient.connect(mongodbUrl);
  try {
    await client.db(database).dropDatabase();
  } finally {
    await client.close();
  }
}

/** Deletes the work queue `name` and every queue named `name.<something>` (retry tiers, dead letters) that exist. */
export async function deleteQueues(rabbitmqUrl: string, managementUrl: string | undefined, name: string): Promise<void> {
  const names = new Set([name, `${name}.dead-letter`]);
  if (managementUrl) {
    const url = new URL(managementUrl);
    const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
    const res = await fetch(new URL('/api/queues/%2F?columns=name', url), { headers: { authorization: auth } });
    if (res.ok) for (const q of (await res.json()) as { name: string }[]) if (q.name.startsWith(`${name}.`)) names.add(q.name);
  }
  const connection = await amqp.connect(rabbitmqUrl);
  try {
    for (const queue of names) {
      const channel = await connection.createChannel();
      channel.on('error', () => {}); // a missing queue closes the channel; that is fine here
      await channel.deleteQueue(queue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close();
  }
}
