import type { Db, Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openMongoStores, type MongoStores } from '../../src/adapters/mongodb/connection';
import type { Logger } from '../../src/observability/logger';
import { mongoAdmin } from '../support/realServers';
import { describeWithServices, services, uniqueName } from '../support/services';
import { T0 } from '../support/fixtures';

/** Index key patterns by name, with the options that matter here. */
async function indexesOf(db: Db, collection: string): Promise<Record<string, Document>> {
  // A collection nobody wrote and no index created does not exist yet (rate_limits on FerretDB).
  if ((await db.listCollections({ name: collection }).toArray()).length === 0) return {};
  const list = await db.collection(collection).listIndexes().toArray();
  return Object.fromEntries(list.map((i) => [i.name as string, i]));
}

/** A logger that keeps its warnings. */
function recordingLogger(warnings: string[]): Logger {
  const logger = {
    info: () => undefined,
    debug: () => undefined,
    error: () => undefined,
    warn: (...args: unknown[]) => {
      warnings.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
    },
    child: () => logger,
  };
  return logger as unknown as Logger;
}

describeWithServices('MongoDB adapters: indexes', ['mongodb'], () => {
  const admin = mongoAdmin(services.mongodbUrl!);

  let database: string;
  let db: Db;
  let stores: MongoStores;
  let warnings: string[];
  beforeEach(async () => {
    database = uniqueName('indexes');
    db = admin.client.db(database);
    warnings = [];
    const settings = {
      mongodbUrl: services.mongodbUrl as string, mongodbDatabase: database, mongodbMaxWriteOps: 40,
      rabbitmqUrl: 'amqp://unused', rabbitmqManagementUrl: null, rabbitmqQueue: 'unused',
    };
    stores = await openMongoStores(settings, (type) => (type === 'contact' ? 'email' : undefined), recordingLogger(warnings));
  });
  afterEach(async () => {
    await stores.close();
    await db.dropDatabase();
  });

  it('creates the job store and rate limiter indexes at start-up, the outcomes one unique', async () => {
    const keys = async (collection: string) => Object.fromEntries(Object.entries(await indexesOf(db, collection)).map(([name, i]) => [name, i.key]));
    expect(await keys('actions')).toMatchObject({
      by_account_newest: { accountId: 1, createdAt: -1, _id: -1 },
      newest: { createdAt: -1, _id: -1 },
      unpublished: { published: 1, createdAt: 1 },
    });
    expect(await keys('action_batches')).toMatchObject({ by_action: { actionId: 1, batchNo: 1 } });
    expect(await keys('action_outcomes')).toMatchObject({ by_action_seq: { actionId: 1, seq: 1 }, by_action_status_seq: { actionId: 1, status: 1, seq: 1 } });
    expect((await indexesOf(db, 'action_outcomes')).by_action_seq?.unique).toBe(true);
    expect(await keys('action_key_claims')).toMatchObject({ by_action: { actionId: 1 } });
  });

  it('creates an entity type\'s indexes on its first use', async () => {
    expect(await db.listCollections({ name: 'entities_contact' }).toArray()).toEqual([]);
    await stores.entityStore.insertMany('contact', 'acct-a', [{ id: 'c1', data: { email: 'a@x.io' } }], T0);
    const indexes = await indexesOf(db, 'entities_contact');
    expect(indexes.by_account?.key).toEqual({ accountId: 1, _id: 1 });
    expect(indexes.by_account_key?.key).toEqual({ accountId: 1, dedupeKey: 1 });
  });

  it('opens again on a database that has its indexes (start-up is idempotent)', async () => {
    const again = await openMongoStores({
      mongodbUrl: services.mongodbUrl as string, mongodbDatabase: database, mongodbMaxWriteOps: 40,
      rabbitmqUrl: 'amqp://unused', rabbitmqManagementUrl: null, rabbitmqQueue: 'unused',
    }, () => undefined);
    await again.close();
  });

  describe('features FerretDB 1.x lacks', () => {
    it('indexes only unpublished actions, completed actions and entities with a key (partial indexes; MongoDB only)', async ({ skip }) => {
      skip(admin.ferretDb, 'FerretDB 1.x has no partialFilterExpression (NotImplemented): the same indexes without the filter are created');
      await stores.entityStore.count('contact', 'acct-a');
      expect((await indexesOf(db, 'actions')).unpublished?.partialFilterExpression).toEqual({ published: false });
      expect((await indexesOf(db, 'actions')).completed?.partialFilterExpression).toEqual({ completedAt: { $exists: true } });
      expect((await indexesOf(db, 'entities_contact')).by_account_key?.partialFilterExpression).toEqual({ dedupeKey: { $exists: true } });
    });

    it('removes idle rate limit keys with a TTL index (MongoDB only)', async ({ skip }) => {
      skip(admin.ferretDb, 'FerretDB 1.x has no expireAfterSeconds (NotImplemented): idle keys stay, one small document per account');
      expect((await indexesOf(db, 'rate_limits')).idle).toMatchObject({ key: { expiresAt: 1 }, expireAfterSeconds: 0 });
    });

    it('on FerretDB, creates full indexes instead and says so', async ({ skip }) => {
      skip(!admin.ferretDb, 'MongoDB has partial and TTL indexes');
      await stores.entityStore.count('contact', 'acct-a');
      expect((await indexesOf(db, 'actions')).unpublished?.partialFilterExpression).toBeUndefined();
      expect((await indexesOf(db, 'actions')).completed?.key).toEqual({ completedAt: 1 });
      expect((await indexesOf(db, 'entities_contact')).by_account_key?.key).toEqual({ accountId: 1, dedupeKey: 1 });
      expect((await indexesOf(db, 'rate_limits')).idle).toBeUndefined();
      // unpublished and completed actions, entities with a key
      expect(warnings.filter((w) => w.includes('no partial indexes')).length).toBe(3);
      expect(warnings.filter((w) => w.includes('no TTL indexes')).length).toBe(1);
      expect(warnings.filter((w) => w.includes('not atomic')).length).toBe(1);
    });
  });
});
