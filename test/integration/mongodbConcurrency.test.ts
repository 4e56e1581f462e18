import { afterEach, beforeEach, expect, it } from 'vitest';
import { CreateInProgressError } from '../../src/store/jobStore';
import { openMongoStores, type MongoStores } from '../../src/adapters/mongodb/connection';
import type { InsertActionResult } from '../../src/store/jobStore';
import type { BulkAction } from '../../src/types/entities';
import { makeAction, makeNewAction, makeOutcome, makeOutcomes, T0 } from '../support/fixtures';
import { mongoAdmin } from '../support/realServers';
import { describeWithServices, services, uniqueName } from '../support/services';

/**
 * Two sets of adapters on one database, each with its own client and connection pool: what two
 * API or worker processes see. Every guarantee here rests on the server, not on the process.
 */
describeWithServices('MongoDB adapters: two processes at once', ['mongodb'], () => {
  const admin = mongoAdmin(services.mongodbUrl!);

  let database: string;
  let a: MongoStores;
  let b: MongoStores;
  beforeEach(async () => {
    database = uniqueName('concurrency');
    const settings = {
      mongodbUrl: services.mongodbUrl as string, mongodbDatabase: database, mongodbMaxWriteOps: 40,
      rabbitmqUrl: 'amqp://unused', rabbitmqManagementUrl: null, rabbitmqQueue: 'unused',
    };
    const dedupeFieldOf = (type: string) => (type === 'contact' ? 'email' : undefined);
    a = await openMongoStores(settings, dedupeFieldOf);
    b = await openMongoStores(settings, dedupeFieldOf);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await admin.client.db(database).dropDatabase();
  });

  /** Each outcome: created, the earlier action, or "in progress" (the winner's action was not stored yet when the loser looked). */
  function outcomesOf(results: PromiseSettledResult<InsertActionResult>[]) {
    return results.map((r) => {
      if (r.status === 'fulfilled') return r.value.created ? 'created' : r.value.reason;
      expect(r.reason).toBeInstanceOf(CreateInProgressError);
      return 'in progress';
    });
  }

  async function stored(actions: BulkAction[]): Promise<string[]> {
    const found = await Promise.all(actions.map((action) => a.jobStore.getAction(action.id)));
    return found.flatMap((f) => (f ? [f.id] : []));
  }

  it('creates one action for one Idempotency-Key sent to two processes at once', async () => {
    const requests = Array.from({ length: 6 }, (_, i) => makeAction({ createdAt: T0 + i }));
    const results = await Promise.allSettled(
      requests.map((action, i) => (i % 2 === 0 ? a : b).jobStore.insertAction(makeNewAction(action, { idempotencyKey: 'same-key' }), null)),
    );
    const outcomes = outcomesOf(results);
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'created' && o !== 'IDEMPOTENCY_KEY' && o !== 'in progress')).toEqual([]);
    const winner = requests[outcomes.indexOf('created')] as BulkAction;
    expect(await stored(requests)).toEqual([winner.id]);
    for (const r of results) if (r.status === 'fulfilled' && !r.value.created) expect(r.value.existing).toEqual(winner);
    expect((await b.jobStore.findExisting('acct-a', 'same-key', 'any', null))?.existing).toEqual(winner);
  });

  it('creates one action for one payload sent to two processes at once within the duplicate window', async () => {
    const requests = Array.from({ length: 6 }, (_, i) => makeAction({ createdAt: T0 + i }));
    const results = await Promise.allSettled(
      requests.map((action, i) => (i % 2 === 0 ? a : b).jobStore.insertAction(makeNewAction(action, { payloadHash: 'same' }), T0 - 1_000)),
    );
    const outcomes = outcomesOf(results);
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'created' && o !== 'DUPLICATE_PAYLOAD' && o !== 'in progress')).toEqual([]);
    expect(await stored(requests)).toHaveLength(1);
  });

  it('counts a batch finished by two processes at once exactly once, and completes the action once', async () => {
    const action = makeAction({ totalEntities: 6 });
    await a.jobStore.insertAction(makeNewAction(action), null);
    await a.jobStore.recordOutcomes(action.id, [...makeOutcomes([0, 1]), makeOutcome(2, 'FAILED', 'NOT_FOUND')], T0);
    await b.jobStore.recordOutcomes(action.id, [...makeOutcomes([3, 4]), makeOutcome(5, 'SKIPPED', 'DUPLICATE_EMAIL')], T0);
    const first = { batchNo: 0, seqs: [0, 1, 2] };
    const second = { batchNo: 1, seqs: [3, 4, 5] };
    // Both batches, each delivered twice to each process: eight calls racing on one document.
    const calls = [first, second, first, second].flatMap((batch) => [a, b].map((p) => p.jobStore.finishBatch(action.id, batch, T0 + 9)));
    const finished = (await Promise.all(calls)).filter((r) => r !== null);
    expect(finished).toHaveLength(1);
    const expected = { ...action, status: 'COMPLETED', completedAt: T0 + 9, progress: { processed: 6, succeeded: 4, failed: 1, skipped: 1 } };
    expect(finished[0]).toEqual(expected);
    expect(await b.jobStore.getActionWithErrors(action.id)).toEqual({ action: expected, errorsByCode: { NOT_FOUND: 1, DUPLICATE_EMAIL: 1 } });
  });

  it('counts many batches of one action finished at once by two processes', async () => {
    const batches = 12;
    const action = makeAction({ totalEntities: batches * 2 });
    await a.jobStore.insertAction(makeNewAction(action), null);
    await a.jobStore.recordOutcomes(action.id, makeOutcomes(Array.from({ length: batches * 2 }, (_, i) => i)), T0);
    const results = await Promise.all(
      Array.from({ length: batches }, (_, n) => (n % 2 === 0 ? a : b).jobStore.finishBatch(action.id, { batchNo: n, seqs: [2 * n, 2 * n + 1] }, T0 + 1)),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect((await a.jobStore.getAction(action.id))?.progress).toEqual({ processed: batches * 2, succeeded: batches * 2, failed: 0, skipped: 0 });
  });

  it('gives a key to one of two processes claiming it at once', async () => {
    const action = makeAction();
    await a.jobStore.insertAction(makeNewAction(action), null);
    const claims = await Promise.all([
      a.jobStore.claimKeys(action.id, [{ key: 'ann@x.io', seq: 1, entityId: 'e-1' }]),
      b.jobStore.claimKeys(action.id, [{ key: 'ann@x.io', seq: 7, entityId: 'e-7' }]),
    ]);
    const owners = claims.map((c) => c.get('ann@x.io')?.seq);
    expect(owners[0]).toBe(owners[1]);
    expect([1, 7]).toContain(owners[0]);
  });

  it('shares one rate limit between two processes', async () => {
    const limiters = [a.rateLimiter(5), b.rateLimiter(5)];
    const decisions = await Promise.all(Array.from({ length: 12 }, (_, i) => (limiters[i % 2] as ReturnType<MongoStores['rateLimiter']>).hit('acct-a', T0 + i)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(await limiters[1]?.hit('acct-a', T0 + 60_012)).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(await limiters[0]?.hit('acct-b', T0)).toEqual({ allowed: true, retryAfterSeconds: 0 });
  });

  it('keeps both of two updates of different fields of one entity made at once (MongoDB only)', async ({ skip }) => {
    skip(admin.ferretDb, 'FerretDB 1.x writes the whole document back on update: concurrent updates of one entity can lose each other\'s fields');
    await a.entityStore.insertMany('contact', 'acct-a', [{ id: 'c1', data: { name: 'Ann' } }], T0);
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).entityStore.updateMany('contact', 'acct-a', ['c1'], { [`f${i}`]: i }, T0 + 1)));
    expect((await a.entityStore.get('contact', 'acct-a', 'c1'))?.data).toEqual({ name: 'Ann', ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}`, i])) });
  });
});
