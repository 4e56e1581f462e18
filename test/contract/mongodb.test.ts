import { openMongoStores, type MongoStores } from '../../src/adapters/mongodb/connection';
import type { DistributedSettings } from '../../src/config';
import type { DedupeFieldOf } from '../../src/store/entityStore';
import { mongoAdmin } from '../support/realServers';
import { describeWithServices, services, uniqueName } from '../support/services';
import { describeApiKeyStoreContract } from './apiKeyStore.contract';
import { describeEntityStoreContract } from './entityStore.contract';
import { describeJobStoreContract } from './jobStore.contract';
import { describeRateLimiterContract } from './rateLimiter.contract';

/**
 * Operations per write command. FerretDB 1.24 (the CI server) hangs on an update command of 50 or
 * more statements on its PostgreSQL backend, 100 on SQLite (services/ferretdb/README.md), so the
 * suites stay below both; MONGODB_MAX_WRITE_OPS overrides it.
 */
const MAX_WRITE_OPS = Number(process.env.MONGODB_MAX_WRITE_OPS || 40);

describeWithServices('MongoDB adapters', ['mongodb'], () => {
  // Drops each test's database after its own client is closed.
  const admin = mongoAdmin(services.mongodbUrl!);

  /** The adapters on a database of their own, dropped by `cleanup`. */
  async function openFresh(dedupeFieldOf: DedupeFieldOf = () => undefined): Promise<{ stores: MongoStores; cleanup: () => Promise<void> }> {
    const settings: DistributedSettings = {
      mongodbUrl: services.mongodbUrl as string,
      mongodbDatabase: uniqueName('contract'),
      mongodbMaxWriteOps: MAX_WRITE_OPS,
      rabbitmqUrl: 'amqp://unused',
      rabbitmqManagementUrl: null,
      rabbitmqQueue: 'unused',
    };
    const stores = await openMongoStores(settings, dedupeFieldOf);
    return {
      stores,
      cleanup: async () => {
        await stores.close();
        await admin.client.db(settings.mongodbDatabase).dropDatabase();
      },
    };
  }

  describeJobStoreContract('mongodb', async () => {
    const { stores, cleanup } = await openFresh();
    return { store: stores.jobStore, cleanup };
  });

  describeEntityStoreContract('mongodb', async (dedupeFieldOf) => {
    const { stores, cleanup } = await openFresh(dedupeFieldOf);
    return { store: stores.entityStore, cleanup };
  });

  describeApiKeyStoreContract('mongodb', async () => {
    const { stores, cleanup } = await openFresh();
    return { store: stores.apiKeyStore, cleanup };
  });

  describeRateLimiterContract('mongodb', async (limit, windowMs) => {
    const { stores, cleanup } = await openFresh();
    return { limiter: stores.rateLimiter(limit, windowMs), cleanup };
  });
});
