import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { handlers } from '../../src/handlers/index';
import { buildPlatform, type Platform } from '../../src/platform';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';

/** The composition root in distributed mode: what a process has once buildPlatform returns. */
describeWithServices('buildPlatform in distributed mode', ['mongodb', 'rabbitmq'], () => {
  const database = uniqueName('platform');
  const queue = uniqueName('platform');
  let platform: Platform | undefined;
  afterEach(async () => {
    await platform?.close();
    await dropDatabases(services.mongodbUrl!, [database]);
    await deleteQueues(services.rabbitmqUrl!, [queue]);
  });

  it('has created the indexes of every registered entity type at start-up', async () => {
    const config = loadConfig(distributedEnv(database, queue));
    platform = await buildPlatform(config, { logger: pino({ level: 'silent' }) });
    const client = await MongoClient.connect(services.mongodbUrl!);
    try {
      for (const type of Object.keys(handlers)) {
        const names = (await client.db(database).collection(`entities_${type}`).listIndexes().toArray()).map((i) => i.name as string);
        expect(names, type).toEqual(expect.arrayContaining(['by_account', 'by_account_key']));
      }
    } finally {
      await client.close();
    }
    expect(await platform.queue.depth()).toMatchObject({ ready: 0, delayed: 0, deadLettered: 0 });
  });
});
