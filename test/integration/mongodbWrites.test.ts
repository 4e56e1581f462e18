import { MongoClient, type CommandStartedEvent, type Db } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyClaimId, payloadClaimId, STALE_CLAIM_MS } from '../../src/adapters/mongodb/actionClaims';
import { CreateInProgressError } from '../../src/store/jobStore';
import { writerStamp } from '../../src/store/entityStore';
import { clientOptions, updateSerializerFor } from '../../src/adapters/mongodb/connection';
import { MongoEntityStore } from '../../src/adapters/mongodb/mongoEntityStore';
import { MongoJobStore } from '../../src/adapters/mongodb/mongoJobStore';
import { MongoRateLimiter } from '../../src/adapters/mongodb/mongoRateLimiter';
import { ensureIndexes } from '../../src/adapters/mongodb/schema';
import { makeAction, makeBatch, makeNewAction, makeOutcome, makeOutcomes, T0 } from '../support/fixtures';
import { describeWithServices, services, uniqueName } from '../support/services';

const MAX_WRITE_OPS = 4;

/**
 * The adapters on a client that records every command it sends, with at most MAX_WRITE_OPS
 * operations per write command: what the adapters send, not only what they answer.
 */
describeWithServices('MongoDB adapters: what they write', ['mongodb'], () => {
  let client: MongoClient;
  let db: Db;
  let commands: CommandStartedEvent[];
  let jobStore: MongoJobStore;
  let entityStore: MongoEntityStore;
  let limiter: MongoRateLimiter;

  beforeEach(async () => {
    const url = services.mongodbUrl as string;
    client = new MongoClient(url, { ...clientOptions(url), monitorCommands: true });
    commands = [];
    client.on('commandStarted', (event) => commands.push(event));
    await client.connect();
    db = client.db(uniqueName('writes'));
    await ensureIndexes(db);
    const updates = await updateSerializerFor(db);
    jobStore = new MongoJobStore(db, { maxWriteOps: MAX_WRITE_OPS, updates });
    entityStore = new MongoEntityStore(db, (type) => (type === 'contact' ? 'email' : undefined), { maxWriteOps: MAX_WRITE_OPS });
    limiter = new MongoRateLimiter(db, 3, 60_000, { updates });
  });
  afterEach(async () => {
    await db.dropDatabase();
    await client.close();
  });

  /** The documents (insert) or operations (update) of each write command sent to `collection` since `from`. */
  function writeSizes(name: 'insert' | 'update', collection: string, from = 0): number[] {
    return commands
      .slice(from)
      .filter((c) => c.commandName === name && c.command[name] === collection)
      .map((c) => (c.command[name === 'insert' ? 'documents' : 'updates'] as unknown[]).length);
  }

  it('uses no transaction for anything it does', async () => {
    const action = makeAction({ totalEntities: 2 });
    await jobStore.insertAction(makeNewAction(action, { idempotencyKey: 'k', batches: [makeBatch(action.id, 0, { seqs: [0, 1], entityIds: ['e-0', 'e-1'] })] }), null);
    await jobStore.findExisting('acct-a', 'k', 'h', T0);
    await jobStore.markPublished(action.id);
    await jobStore.markRunning(action.id, T0);
    await jobStore.claimKeys(action.id, [{ key: 'a@x.io', seq: 0, entityId: 'e-0' }]);
    await jobStore.recordOutcomes(action.id, makeOutcomes([0, 1]), T0);
    expect((await jobStore.finishBatch(action.id, { batchNo: 0, seqs: [0, 1] }, T0))?.status).toBe('COMPLETED');
    await entityStore.insertMany('contact', 'acct-a', [{ id: 'c1', data: { email: 'a@x.io' } }], T0);
    await entityStore.insertMany('contact', 'acct-a', [{ id: 'c1', data: { email: 'b@x.io' } }], T0);
    await entityStore.updateMany('contact', 'acct-a', ['c1'], { email: null }, T0);
    await entityStore.getMany('contact', 'acct-a', ['c1']);
    await limiter.hit('acct-a', T0);

    expect(commands.length).toBeGreaterThan(20);
    const transactional = commands.filter((c) =>
      ['commitTransaction', 'abortTransaction'].includes(c.commandName) || 'startTransaction' in c.command || 'autocommit' in c.command);
    expect(transactional.map((c) => c.commandName)).toEqual([]);
  });

  it('splits every multi-document write into commands of at most mongodbMaxWriteOps operations', async () => {
    const action = makeAction({ totalEntities: 30 });
    const batches = Array.from({ length: 10 }, (_, n) => makeBatch(action.id, n));
    await jobStore.insertAction(makeNewAction(action, { batches }), null);
    expect(writeSizes('insert', 'action_batches')).toEqual([4, 4, 2]);
    expect(await jobStore.batchPlan(action.id)).toEqual(batches);

    await jobStore.recordOutcomes(action.id, makeOutcomes(Array.from({ length: 9 }, (_, i) => i)), T0);
    expect(writeSizes('insert', 'action_outcomes')).toEqual([4, 4, 1]);

    await jobStore.claimKeys(action.id, Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, seq: i, entityId: `e-${i}` })));
    expect(writeSizes('insert', 'action_key_claims')).toEqual([4, 1]);

    const entities = Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, data: { name: `n${i}` } }));
    await entityStore.insertMany('contact', 'acct-a', entities, T0);
    expect(writeSizes('insert', 'entities_contact')).toEqual([4, 4, 2]);
    const before = commands.length;
    // Existing ids: the insert finds them taken, the upserting replaces follow in bounded bulks.
    await entityStore.insertMany('contact', 'acct-a', entities.map((e) => ({ id: e.id, data: { name: 'again' } })), T0 + 1);
    expect(writeSizes('insert', 'entities_contact', before)).toEqual([4, 4, 2]);
    expect(writeSizes('update', 'entities_contact', before)).toEqual([4, 4, 2]);
    expect(await entityStore.count('contact', 'acct-a')).toBe(10);
    expect((await entityStore.get('contact', 'acct-a', 'c9'))?.data).toEqual({ name: 'again' });
  });

  it('updates a batch of entities with one command whatever its size', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `c${i}`);
    await entityStore.insertMany('contact', 'acct-a', ids.map((id) => ({ id, data: {} })), T0);
    const before = commands.length;
    expect((await entityStore.updateMany('contact', 'acct-a', ids, { status: 'customer' }, T0 + 1, writerStamp(T0, 'action-a'))).written).toHaveLength(12);
    expect(writeSizes('update', 'entities_contact', before)).toEqual([1]);
    expect(commands.slice(before).filter((c) => c.commandName === 'find' && c.command.find === 'entities_contact')).toEqual([]);
  });

  describe('entity fields', () => {
    it('removes a field set to null, as the SQLite adapter\'s JSON merge patch does, and its de-dup key with it', async () => {
      await entityStore.insertMany('contact', 'acct-a', [{ id: 'c1', data: { name: 'Ann', email: 'Ann@x.io', status: 'lead' } }], T0);
      await entityStore.updateMany('contact', 'acct-a', ['c1'], { status: null, email: null, score: 2 }, T0 + 1);
      expect((await entityStore.get('contact', 'acct-a', 'c1'))?.data).toEqual({ name: 'Ann', score: 2 });
      const raw = await db.collection('entities_contact').findOne({ _id: 'c1' as never });
      expect(raw).not.toHaveProperty('dedupeKey');
      expect(raw?.data).not.toHaveProperty('status');
      expect((await entityStore.getMany('contact', 'acct-a', ['c1']))[0]?.dedupeKey).toBeNull();
    });

    it('refuses a field name that MongoDB would read as a path or an operator', async () => {
      await entityStore.insertMany('contact', 'acct-a', [{ id: 'c1', data: {} }], T0);
      await expect(entityStore.updateMany('contact', 'acct-a', ['c1'], { 'a.b': 1 }, T0)).rejects.toThrow(/field name/);
      await expect(entityStore.updateMany('contact', 'acct-a', ['c1'], { $set: 1 }, T0)).rejects.toThrow(/field name/);
    });

    it('refuses an entity type that cannot name a collection', async () => {
      await expect(entityStore.count('bad type', 'acct-a')).rejects.toThrow(/entity type/);
    });
  });

  describe('claims left by a create that died before storing its action', () => {
    const ghost = { actionId: 'ghost-action', createdAt: T0 };

    it('answers "in progress" to the same Idempotency-Key while the claim is fresh, then takes it over', async () => {
      await db.collection('action_claims').insertOne({ _id: keyClaimId('acct-a', 'k') as never, ...ghost });
      expect(await jobStore.findExisting('acct-a', 'k', 'h', null)).toBeNull();
      const soon = makeAction({ createdAt: T0 + 1_000 });
      await expect(jobStore.insertAction(makeNewAction(soon, { idempotencyKey: 'k' }), null)).rejects.toThrow(CreateInProgressError);
      expect(await jobStore.getAction(soon.id)).toBeNull();

      const later = makeAction({ createdAt: T0 + STALE_CLAIM_MS });
      expect(await jobStore.insertAction(makeNewAction(later, { idempotencyKey: 'k' }), null)).toEqual({ created: true });
      expect((await jobStore.findExisting('acct-a', 'k', 'h', null))?.existing).toEqual(later);
    });

    it('answers "in progress" to the same payload in the window while the claim is fresh, then takes it over', async () => {
      await db.collection('action_claims').insertOne({ _id: payloadClaimId('acct-a', 'same') as never, ...ghost });
      const soon = makeAction({ createdAt: T0 + 1_000 });
      const error = await jobStore.insertAction(makeNewAction(soon, { payloadHash: 'same' }), T0).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'CreateInProgressError', reason: 'DUPLICATE_PAYLOAD', actionId: 'ghost-action' });

      const later = makeAction({ createdAt: T0 + STALE_CLAIM_MS });
      expect(await jobStore.insertAction(makeNewAction(later, { payloadHash: 'same' }), T0)).toEqual({ created: true });
      const again = makeAction({ createdAt: T0 + STALE_CLAIM_MS + 1 });
      expect(await jobStore.insertAction(makeNewAction(again, { payloadHash: 'same' }), T0)).toMatchObject({ reason: 'DUPLICATE_PAYLOAD', existing: later });
    });

    it('gives back the Idempotency-Key of a request refused as a duplicate payload', async () => {
      const first = makeAction();
      await jobStore.insertAction(makeNewAction(first, { payloadHash: 'same' }), null);
      const refused = makeAction({ createdAt: T0 + 1 });
      expect(await jobStore.insertAction(makeNewAction(refused, { payloadHash: 'same', idempotencyKey: 'k2' }), T0)).toMatchObject({ reason: 'DUPLICATE_PAYLOAD' });
      // Not "in progress": the key is free for the client's corrected request.
      const corrected = makeAction({ createdAt: T0 + 2 });
      expect(await jobStore.insertAction(makeNewAction(corrected, { payloadHash: 'other', idempotencyKey: 'k2' }), T0)).toEqual({ created: true });
    });

    it('stores no action for a plan written without its action (the commit point is the action)', async () => {
      const action = makeAction();
      await db.collection('action_batches').insertOne({ _id: `${action.id}:0` as never, actionId: action.id, batchNo: 0, message: makeBatch(action.id, 0) });
      expect(await jobStore.getAction(action.id)).toBeNull();
      expect(await jobStore.listUnpublished(T0 + 60_000, 10)).toEqual([]);
      // A retry of that create stores it, with its plan once.
      expect(await jobStore.insertAction(makeNewAction(action, { batches: [makeBatch(action.id, 0)] }), null)).toEqual({ created: true });
      expect(await jobStore.batchPlan(action.id)).toEqual([makeBatch(action.id, 0)]);
    });
  });

  describe('finishBatch', () => {
    it('refuses a batch whose positions are not all recorded', async () => {
      const action = makeAction({ totalEntities: 3 });
      await jobStore.insertAction(makeNewAction(action), null);
      await jobStore.recordOutcomes(action.id, makeOutcomes([0, 1]), T0);
      await expect(jobStore.finishBatch(action.id, { batchNo: 0, seqs: [0, 1, 2] }, T0)).rejects.toThrow(/1 of the 3 positions/);
      expect((await jobStore.getAction(action.id))?.progress.processed).toBe(0);
    });

    it('completes an action whose last batch was counted by a call that died before completing it', async () => {
      const action = makeAction({ totalEntities: 2 });
      await jobStore.insertAction(makeNewAction(action), null);
      await jobStore.recordOutcomes(action.id, [makeOutcome(0), makeOutcome(1, 'FAILED')], T0);
      // What the counting update leaves: counted, but the status not set.
      await db.collection('actions').updateOne(
        { _id: action.id as never },
        { $set: { 'progress.processed': 2, 'progress.succeeded': 1, 'progress.failed': 1, 'errors.NOT_FOUND': 1, countedBatches: [0] } },
      );
      const finished = await jobStore.finishBatch(action.id, { batchNo: 0, seqs: [0, 1] }, T0 + 5);
      expect(finished).toMatchObject({ status: 'COMPLETED', completedAt: T0 + 5, progress: { processed: 2, succeeded: 1, failed: 1, skipped: 0 } });
      expect(await db.collection('actions').findOne({ _id: action.id as never })).not.toHaveProperty('countedBatches');
    });
  });
});
