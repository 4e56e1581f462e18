import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { entityCollectionName } from '../../src/adapters/mongodb/schema';
import { loadConfig } from '../../src/config';
import { openEntityStore } from '../../src/platform';
import { seedEntities } from '../../src/seeding/generateEntities';

/** The servers a distributed run talks to, from the environment `.ci/services.sh` exports. */
export interface Services {
  mongodbUrl: string;
  rabbitmqUrl: string;
  rabbitmqManagementUrl: string | null;
}

export function servicesFromEnv(env: NodeJS.ProcessEnv): Services {
  const { MONGODB_URL: mongodbUrl, RABBITMQ_URL: rabbitmqUrl } = env;
  if (!mongodbUrl || !rabbitmqUrl) {
    throw new Error('--mode distributed needs MONGODB_URL and RABBITMQ_URL (for the local servers: source .ci/services.sh)');
  }
  return { mongodbUrl, rabbitmqUrl, rabbitmqManagementUrl: env.RABBITMQ_MANAGEMENT_URL || null };
}

/** A name no test and no other run uses: `bench_<time>_<random>`, valid as a database and a queue name. */
export function uniqueRunName(): string {
  return `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** The environment every server process (and the seed) of one run gets. */
export function serverEnv(services: Services, database: string, queue: string, settings: Record<string, string>): Record<string, string> {
  return {
    MONGODB_URL: services.mongodbUrl,
    RABBITMQ_URL: services.rabbitmqUrl,
    ...(services.rabbitmqManagementUrl ? { RABBITMQ_MANAGEMENT_URL: services.rabbitmqManagementUrl } : {}),
    MONGODB_DATABASE: database,
    RABBITMQ_QUEUE: queue,
    HOST: '127.0.0.1',
    DEMO_DATA: 'false',
    RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
    ...settings,
  };
}

/**
 * Seeds `count` contacts into the database named in `env`, through `openEntityStore`: the path
 * `npm run seed` takes. The same arguments always give the same entities. Returns their IDs.
 */
export async function seedContacts(env: Record<string, string>, accountId: string, count: number): Promise<string[]> {
  const { entityStore, close } = await openEntityStore(loadConfig(env));
  const ids: string[] = [];
  try {
    await seedEntities(entityStore, 'contact', accountId, count, { idPrefix: 'contact-', idSink: (chunk) => ids.push(...chunk) });
  } finally {
    await close();
  }
  return ids;
}

/** How many of the account's contacts carry every one of `fields`: after a run, all of them should. */
export async function countUpdated(url: string, database: string, accountId: string, fields: Record<string, unknown>): Promise<number> {
  const client = new MongoClient(url);
  await client.connect();
  try {
    const filter: Record<string, unknown> = { accountId };
    for (const [field, value] of Object.entries(fields)) filter[`data.${field}`] = value;
    return await client.db(database).collection(entityCollectionName('contact')).countDocuments(filter);
  } finally {
    await client.close();
  }
}
