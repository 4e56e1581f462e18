import type { Db } from 'mongodb';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openMongoStores, type MongoStores } from '../../src/adapters/mongodb/connection';
import type { BatchRef } from '../../src/store/jobStore';
import { makeAction, makeBatch, makeNewAction, makeOutcomes, T0 } from '../support/fixtures';
import { mongoAdmin } from '../support/realServers';
import { describeWithServices, services, uniqueName } from '../support/services';

/**
 * What only MongoDB does in the retention purge (the port's behaviour is in
 * test/contract/jobStorePurge.contract.ts): no document of a purged action is left in any
 * collection, and a removal a crash left half-done is finished by the next slice. Tiny: FerretDB.
 */
const DAY = 86_400_000;

describeWithServices('MongoDB retention purge', ['mongodb'], () => {
  const admin = mongoAdmin(services.mongodbUrl!);
  let db: Db;
  let stores: MongoStores;

  beforeEach(async () => {
    const database = uniqueName('purge');
    db = admin.client.db(database);
    stores = await openMongoStores({
      mongodbUrl: services.mongodbUrl as string, mongodbDatabase: database, mongodbMaxWriteOps: 40,
      rabbitmqUrl: 'amqp://unused', rabbitmqManagementUrl: null, rabbitmqQueue: 'unused',
    }, () => undefined);
  });
  afterEach(async () => {
    await stores.close();
    await db.dropDatabase();
  });

  /** A finished action with 5 outcomes and an Idempotency-Key, completed at T0. */
  async function finished(): Promise<string> {
    const action = makeAction({ totalEntities: 5 });
    const seqs = [0, 1, 2, 3, 4];
    await stores.jobStore.insertAction(makeNewAction(action, { idempotencyKey: 'k', batches: [makeBatch(action.id, 0, { seqs, entityIds: seqs.map((s) => `e-${s}`) })] }), null);
    await stores.jobStore.recordOutcomes(action.id, makeOutcomes(seqs), T0);
    const ref = { batchNo: 0, seqs, startedAt: T0 };
    expect((await stores.jobStore.finishBatch(action.id, ref as BatchRef, T0))?.status).toBe('COMPLETED');
    return action.id;
  }

  const left = async (actionId: string) => ({
    actions: await db.collection('actions').countDocuments({ _id: actionId as never }),
    outcomes: await db.collection('action_outcomes').countDocuments({ actionId }),
    claims: await db.collection('action_claims').countDocuments({ actionId }),
    batches: await db.collection('action_batches').countDocuments({ actionId }),
    purges: await db.collection('action_purges').countDocuments({}),
  });
  const none = { actions: 0, outcomes: 0, claims: 0, batches: 0, purges: 0 };

  async function purgeAll(maxRows: number): Promise<void> {
    for (let i = 0; i < 100 && !(await stores.jobStore.purgeExpired(T0 + DAY, maxRows)).done; i++);
  }

  it('leaves no document of a purged action in any collection', async () => {
    const id = await finished();
    // A plan document a crash left behind (completion deletes it).
    await db.collection('action_batches').insertOne({ _id: `${id}:9` as never, actionId: id, batchNo: 9, message: makeBatch(id, 9) });
    expect(await left(id)).toMatchObject({ actions: 1, outcomes: 5, claims: 2, batches: 1 });
    await purgeAll(2);
    expect(await left(id)).toEqual(none);
  });

  it('finishes a removal that a crash left between its note and the action document', async () => {
    const id = await finished();
    await db.collection('action_purges').insertOne({ _id: id as never, startedAt: T0 });
    // The first slice that resumes it takes the action away before any of its outcomes.
    await stores.jobStore.purgeExpired(T0 + DAY, 2);
    expect(await stores.jobStore.getAction(id)).toBeNull();
    await purgeAll(100);
    expect(await left(id)).toEqual(none);
  });
});
