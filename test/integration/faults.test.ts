import { afterEach, describe, expect, it } from 'vitest';
import { createBulkAction } from '../../src/actions/createBulkAction';
import { PermanentError } from '../../src/errors';
import { BaseEntityHandler, type EntityResult } from '../../src/handlers/BaseEntityHandler';
import { handlers } from '../../src/handlers/index';
import { startOutboxSweeper } from '../../src/actions/outbox';
import { processBatch } from '../../src/processing/processBatch';
import type { EntitySnapshot } from '../../src/store/entityStore';
import type { BulkAction, FieldUpdates } from '../../src/types/entities';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';
import { waitFor } from '../support/waitFor';

let t: TestPlatform;
afterEach(async () => t?.close());

const ACCOUNT = 'acme';

async function seedContacts(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `c${String(i).padStart(5, '0')}`);
  await t.platform.entityStore.insertMany('contact', ACCOUNT, ids.map((id) => ({ id, data: { email: `${id}@x.io`, status: 'lead' } })), Date.now());
  return ids;
}

async function create(entityType: string, entityIds: string[], fieldsToUpdate: FieldUpdates = { status: 'customer' }): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: `/api/bulk-actions/${entityType}`, payload: { accountId: ACCOUNT, entityIds, fieldsToUpdate } });
  expect(res.statusCode).toBe(202);
  return res.json().id as string;
}

/** Every outcome row of an action, through the API, checked against the counters. */
async function expectCountersEqualLogs(action: BulkAction): Promise<void> {
  const logs = (await t.app.inject({ url: `/api/bulk-actions/${action.id}/logs?limit=1000` })).json();
  expect(logs.total).toBe(action.totalEntities);
  const byStatus = { SUCCESS: 0, FAILED: 0, SKIPPED: 0 } as Record<string, number>;
  for (const row of logs.items as { status: string }[]) byStatus[row.status]! += 1;
  expect(action.progress).toEqual({
    processed: action.totalEntities,
    succeeded: byStatus.SUCCESS,
    failed: byStatus.FAILED,
    skipped: byStatus.SKIPPED,
  });
}

describe('faults and retries', () => {
  it('a worker dying after writing entities, before recording outcomes, retries without double counting', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '10' });
    const ids = await seedContacts(50);
    const failuresLeft = new Map([[0, 1], [3, 2]]);
    await t.startWorkers({
      faults: {
        afterEntitiesWritten: (batch) => {
          const left = failuresLeft.get(batch.batchNo) ?? 0;
          if (left > 0) {
            failuresLeft.set(batch.batchNo, left - 1);
            throw new Error(`injected crash in batch ${batch.batchNo}`);
          }
        },
      },
    });
    const action = await waitForAction(t.platform, await create('contact', ids));
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 50, succeeded: 50, failed: 0, skipped: 0 });
    expect([...failuresLeft.values()]).toEqual([0, 0]);
    await expectCountersEqualLogs(action);
  });

  it('a batch redelivered after its outcomes were recorded (lost ack) counts nothing twice', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '10' });
    const ids = await seedContacts(30);
    const deliveries: number[] = [];
    let crashed = false;
    await t.startWorkers({
      faults: {
        afterOutcomesRecorded: (batch) => {
          deliveries.push(batch.batchNo);
          if (batch.batchNo === 1 && !crashed) {
            crashed = true;
            throw new Error('injected crash before ack');
          }
        },
      },
    });
    const actionId = await create('contact', ids);
    // The action completes with batch 1's outcomes already recorded; its redelivery comes after,
    // finds the action finished, and is acked: the queue empties only through that redelivery.
    await waitFor(async () => (await t.platform.queue.depth()).ready + (await t.platform.queue.depth()).delayed === 0, 10_000, 'batch 1 redelivered and acked');
    const action = await waitForAction(t.platform, actionId);
    expect(crashed).toBe(true);
    expect(action.progress).toEqual({ processed: 30, succeeded: 30, failed: 0, skipped: 0 });
    await expectCountersEqualLogs(action);
  });

  it('transient handler errors go back to the queue and are retried until they pass', async () => {
    const seen: string[][] = [];
    class FlakyContacts extends BaseEntityHandler {
      override readonly dedupeKey = 'email';
      constructor() {
        super('contact');
      }
      async validateEntity(): Promise<boolean> {
        return true;
      }
      async updateEntity(): Promise<void> {}
      override async processBatch(entities: EntitySnapshot[], updates: FieldUpdates): Promise<EntityResult[]> {
        seen.push(entities.map((e) => e.id));
        if (seen.length < 3) throw new Error('connection reset');
        return handlers.contact.processBatch(entities, updates);
      }
    }
    t = await makeTestPlatform({ BATCH_SIZE: '5', MAX_BATCH_ATTEMPTS: '4' }, { handlers: { ...handlers, contact: new FlakyContacts() } });
    const ids = await seedContacts(5);
    await t.startWorkers();
    const action = await waitForAction(t.platform, await create('contact', ids));
    expect(seen).toEqual([ids, ids, ids]);
    expect(action.progress).toEqual({ processed: 5, succeeded: 5, failed: 0, skipped: 0 });
    expect((await t.platform.queue.depth()).deadLettered).toBe(0);
  });

  it('errors that outlast MAX_BATCH_ATTEMPTS fail the remaining entities with RETRIES_EXHAUSTED and dead-letter the batch', async () => {
    class AlwaysDown extends BaseEntityHandler {
      constructor() {
        super('contact');
      }
      async validateEntity(): Promise<boolean> {
        throw new Error('crm unavailable');
      }
      async updateEntity(): Promise<void> {}
    }
    t = await makeTestPlatform({ MAX_BATCH_ATTEMPTS: '3' }, { handlers: { ...handlers, contact: new AlwaysDown() } });
    const ids = await seedContacts(4);
    await t.startWorkers();
    const action = await waitForAction(t.platform, await create('contact', [...ids, 'missing']));
    expect(action.status).toBe('FAILED');
    expect(action.progress).toEqual({ processed: 5, succeeded: 0, failed: 5, skipped: 0 });
    const stats = (await t.app.inject({ url: `/api/bulk-actions/${action.id}/stats` })).json();
    expect(stats.errorsByCode).toEqual({ RETRIES_EXHAUSTED: 4, NOT_FOUND: 1 });
    await waitFor(async () => (await t.platform.queue.depth()).deadLettered === 1, 5_000, 'the batch dead-lettered');
  });

  it('a PermanentError thrown for a whole batch fails its entities at once, with its code', async () => {
    let calls = 0;
    class Rejecting extends BaseEntityHandler {
      constructor() {
        super('contact');
      }
      async validateEntity(): Promise<boolean> {
        return true;
      }
      async updateEntity(): Promise<void> {}
      override async processBatch(): Promise<EntityResult[]> {
        calls++;
        throw new PermanentError('the CRM refused the whole batch', 'CRM_REJECTED');
      }
    }
    t = await makeTestPlatform({}, { handlers: { ...handlers, contact: new Rejecting() } });
    const ids = await seedContacts(3);
    await t.startWorkers();
    const action = await waitForAction(t.platform, await create('contact', ids));
    expect(calls).toBe(1);
    expect(action.status).toBe('FAILED');
    const logs = (await t.app.inject({ url: `/api/bulk-actions/${action.id}/logs` })).json();
    expect(logs.items.map((r: { code: string }) => r.code)).toEqual(['CRM_REJECTED', 'CRM_REJECTED', 'CRM_REJECTED']);
  });

  it('a batch delivered after its last attempt died fails what is left and is dead-lettered, instead of looping', async () => {
    t = await makeTestPlatform({ MAX_BATCH_ATTEMPTS: '3' });
    const ids = await seedContacts(3);
    const actionId = await create('contact', ids);
    const batch = { actionId, accountId: ACCOUNT, entityType: 'contact', batchNo: 0, entityIds: ids, seqs: [0, 1, 2], fieldsToUpdate: { status: 'customer' } };
    // Pretend an earlier delivery recorded the first entity before its worker died.
    await t.platform.jobStore.recordOutcomes(actionId, [{ seq: 0, entityId: ids[0]!, status: 'SUCCESS', code: null, params: null }], Date.now());
    expect(await processBatch(t.platform, batch, { attempt: 4 })).toBe('dead-letter');
    const action = (await t.platform.jobStore.getAction(actionId))!;
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 3, succeeded: 1, failed: 2, skipped: 0 });
    expect((await t.platform.jobStore.getActionWithErrors(actionId))?.errorsByCode).toEqual({ RETRIES_EXHAUSTED: 2 });
    const untouched = await t.platform.entityStore.get('contact', ACCOUNT, ids[1]!);
    expect(untouched?.data.status).toBe('lead');
  });
  it('keeps what a seed-shaped handler finished before a transient error, and redoes only the rest', async () => {
    const updatedIds: string[] = [];
    let failuresLeft = 1;
    class StepByStep extends BaseEntityHandler {
      constructor() {
        super('contact');
      }
      async validateEntity(): Promise<boolean> {
        return true;
      }
      async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
        if (entityId === 'c00002' && failuresLeft-- > 0) throw new Error('connection reset');
        await this.crmClient.update(entityId, updates);
        updatedIds.push(entityId);
      }
    }
    t = await makeTestPlatform({}, { handlers: { ...handlers, contact: new StepByStep() } });
    const ids = await seedContacts(4);
    await t.startWorkers();
    const action = await waitForAction(t.platform, await create('contact', ids));
    expect(updatedIds).toEqual(['c00000', 'c00001', 'c00002', 'c00003']); // c00000 and c00001 were not redone
    expect(action.progress).toEqual({ processed: 4, succeeded: 4, failed: 0, skipped: 0 });
  });
});

describe('the outbox: no batch without its action, no stored action without its batches', () => {
  const body = (entityIds: string[]) => ({ accountId: ACCOUNT, entityType: 'contact', entityIds, fieldsToUpdate: { status: 'customer' } });

  it('a queue that refuses the batches still answers 202; the sweeper publishes them and the action completes', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '2', OUTBOX_GRACE_MS: '0', OUTBOX_SWEEP_INTERVAL_MS: '60000' });
    const ids = await seedContacts(5);
    const real = t.platform.queue;
    let refused = 0;
    t.platform.queue = Object.assign(Object.create(real) as typeof real, {
      publish: async () => {
        refused++;
        throw new Error('broker unreachable');
      },
    });
    const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions', payload: body([...ids, ids[0]!]) });
    expect(res.statusCode).toBe(202);
    expect(refused).toBe(1);
    const actionId = res.json().id as string;
    expect(await t.platform.jobStore.listUnpublished(Date.now() + 1, 10)).toEqual([actionId]);
    expect(await real.depth()).toMatchObject({ ready: 0 });

    t.platform.queue = real;
    const sweeper = startOutboxSweeper(t.platform, t.platform.config.outbox);
    try {
      expect(await sweeper.sweep()).toBe(1);
      expect(await sweeper.sweep()).toBe(0);
    } finally {
      await sweeper.stop();
    }
    await t.startWorkers();
    const action = await waitForAction(t.platform, actionId);
    expect(action.progress).toEqual({ processed: 6, succeeded: 5, failed: 0, skipped: 1 });
    await expectCountersEqualLogs(action);
  });

  it('the sweeper leaves an action alone during its grace period (its create is still publishing)', async () => {
    t = await makeTestPlatform({ OUTBOX_GRACE_MS: '60000' });
    const ids = await seedContacts(2);
    const { actionId } = await createBulkAction({ ...t.platform, queue: Object.assign(Object.create(t.platform.queue) as typeof t.platform.queue, { publish: async () => { throw new Error('down'); } }) }, body(ids), null);
    const sweeper = startOutboxSweeper(t.platform, t.platform.config.outbox);
    try {
      expect(await sweeper.sweep()).toBe(0);
    } finally {
      await sweeper.stop();
    }
    expect(await t.platform.jobStore.listUnpublished(Date.now() + 60_001, 10)).toEqual([actionId]);
  });

  it('a batch published twice (the sweeper and a slow create) counts nothing twice', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '2' });
    const ids = await seedContacts(5);
    const { actionId } = await createBulkAction(t.platform, body(ids), null);
    await t.platform.queue.publish(await t.platform.jobStore.batchPlan(actionId));
    await t.startWorkers();
    const action = await waitForAction(t.platform, actionId);
    expect(action.progress).toEqual({ processed: 5, succeeded: 5, failed: 0, skipped: 0 });
    await expectCountersEqualLogs(action);
  });

  it('a batch of an unknown action is dead-lettered at once (it can never be processed), touching nothing', async () => {
    t = await makeTestPlatform();
    const ids = await seedContacts(2);
    const batch = { actionId: 'never-stored', accountId: ACCOUNT, entityType: 'contact', batchNo: 0, entityIds: ids, seqs: [0, 1], fieldsToUpdate: { status: 'customer' } };
    expect(await processBatch(t.platform, batch, { attempt: 1 })).toBe('dead-letter');
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[0]!))?.data.status).toBe('lead');
  });

  it('a batch of a finished action is acknowledged and dropped', async () => {
    t = await makeTestPlatform();
    const ids = await seedContacts(2);
    await t.startWorkers();
    const actionId = await create('contact', ids, { status: 'churned' });
    await waitForAction(t.platform, actionId);
    const [first] = await t.platform.jobStore.batchPlan(actionId);
    expect(first).toBeUndefined(); // the plan is temporary data, gone at completion
    const late = { actionId, accountId: ACCOUNT, entityType: 'contact', batchNo: 0, entityIds: ids, seqs: [0, 1], fieldsToUpdate: { status: 'customer' } };
    expect(await processBatch(t.platform, late, { attempt: 2 })).toBe('ack');
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[0]!))?.data.status).toBe('churned');
  });

  const unpublished = () => ({ ...t.platform, queue: Object.assign(Object.create(t.platform.queue) as typeof t.platform.queue, { publish: async () => {} }) });

  it('a message that names another account is worked as planned, in its action\'s account', async () => {
    t = await makeTestPlatform();
    const ids = await seedContacts(1);
    await t.platform.entityStore.insertMany('contact', 'victim', [{ id: 'v1', data: { status: 'lead' } }], Date.now());
    const { actionId } = await createBulkAction(unpublished(), body(ids), null);
    const forged = { actionId, accountId: 'victim', entityType: 'contact', batchNo: 0, entityIds: ids, seqs: [0], fieldsToUpdate: { status: 'churned' } };
    expect(await processBatch(t.platform, forged, { attempt: 1 })).toBe('ack');
    expect((await t.platform.entityStore.get('contact', 'victim', 'v1'))?.data.status).toBe('lead');
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[0]!))?.data.status).toBe('customer');
  });

  it.each([
    ['IDs that are not in the plan', { entityIds: ['v1'], seqs: [0] }],
    ['a position that is not in the plan', { entityIds: ['c00000'], seqs: [500] }],
    ['a batch number the plan does not have', { batchNo: 7 }],
  ])('a message with %s is dead-lettered and touches nothing', async (_label, forgery) => {
    t = await makeTestPlatform();
    const ids = await seedContacts(1);
    await t.platform.entityStore.insertMany('contact', 'victim', [{ id: 'v1', data: { status: 'lead' } }], Date.now());
    const { actionId } = await createBulkAction(unpublished(), body(ids), null);
    const forged = { actionId, accountId: ACCOUNT, entityType: 'contact', batchNo: 0, entityIds: ids, seqs: [0], fieldsToUpdate: { status: 'customer' }, ...forgery };
    expect(await processBatch(t.platform, forged, { attempt: 1 })).toBe('dead-letter');
    expect((await t.platform.entityStore.get('contact', 'victim', 'v1'))?.data.status).toBe('lead');
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[0]!))?.data.status).toBe('lead');
    expect(await t.platform.jobStore.listOutcomes(actionId, null, 0, 10)).toEqual({ items: [], total: 0 });
  });

  it('a second first delivery of a finished batch (create and sweeper both published it) writes nothing again', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '1' });
    const ids = await seedContacts(2);
    const older = await createBulkAction(unpublished(), { ...body(ids), fieldsToUpdate: { title: 'older' } }, null);
    const [first] = await t.platform.jobStore.batchPlan(older.actionId);
    expect(await processBatch(t.platform, first!, { attempt: 1 })).toBe('ack');
    // A newer action changes the same entity while the older one is still running (its batch 1 waits).
    const newer = await createBulkAction(unpublished(), { ...body([ids[0]!]), fieldsToUpdate: { title: 'newer' } }, null);
    await processBatch(t.platform, (await t.platform.jobStore.batchPlan(newer.actionId))[0]!, { attempt: 1 });
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[0]!))?.data.title).toBe('newer');

    expect(await processBatch(t.platform, first!, { attempt: 1 })).toBe('ack');
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[0]!))?.data.title).toBe('newer');
    expect((await t.platform.jobStore.getAction(older.actionId))?.progress).toEqual({ processed: 1, succeeded: 1, failed: 0, skipped: 0 });
  });

  it('of two identical concurrent creates, the loser stores and publishes nothing', async () => {
    t = await makeTestPlatform();
    const ids = await seedContacts(3);
    await createBulkAction(t.platform, body(ids), null);
    // The second request passed the duplicate lookup before the first stored its action (the race):
    // the insert's own re-check refuses it, before anything is published.
    const store = t.platform.jobStore;
    const racing = { ...t.platform, jobStore: Object.assign(Object.create(store) as typeof store, { findExisting: async () => null }) };
    await expect(createBulkAction(racing, body(ids), null)).rejects.toMatchObject({ code: 'DUPLICATE_ACTION' });
    expect((await t.platform.queue.depth()).ready).toBe(1);
    expect((await store.listActions({}, 0, 10)).total).toBe(1);
  });
});

describe('a batch that fails before its entities are reached is not redelivered forever', () => {
  /** The job store with `method` throwing for one action only: a corrupt row, say. Everything else works. */
  function poisoned(method: 'markRunning' | 'plannedBatch', actionId: () => string) {
    const store = t.platform.jobStore;
    return new Proxy(store, {
      get(target, property) {
        if (property === method) {
          return async (id: string, ...rest: unknown[]) => {
            if (id === actionId()) throw new Error(`corrupt row for ${id}`);
            return (target[method] as (...args: unknown[]) => unknown).call(target, id, ...rest);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** Stores an action without publishing it (the test publishes once the poison is set). */
  async function stored(entityIds: string[]): Promise<string> {
    const queue = Object.assign(Object.create(t.platform.queue) as typeof t.platform.queue, { publish: async () => {} });
    const body = { accountId: ACCOUNT, entityType: 'contact', entityIds, fieldsToUpdate: { status: 'customer' } };
    return (await createBulkAction({ ...t.platform, queue }, body, null)).actionId;
  }

  async function publish(...actionIds: string[]): Promise<void> {
    for (const id of actionIds) await t.platform.queue.publish(await t.platform.jobStore.batchPlan(id));
  }

  it('fails its entities RETRIES_EXHAUSTED after MAX_BATCH_ATTEMPTS, dead-letters it, and the queue keeps flowing', async () => {
    t = await makeTestPlatform({ MAX_BATCH_ATTEMPTS: '3' });
    const ids = await seedContacts(4);
    const poison = await stored(ids.slice(0, 3));
    const good = await stored(ids.slice(3));
    await t.startWorkers({ jobStore: poisoned('markRunning', () => poison) });
    await publish(poison, good);
    expect((await waitForAction(t.platform, good)).status).toBe('COMPLETED');
    const action = await waitForAction(t.platform, poison, 10_000);
    expect(action).toMatchObject({ status: 'FAILED', progress: { processed: 3, succeeded: 0, failed: 3, skipped: 0 } });
    expect((await t.platform.jobStore.getActionWithErrors(poison))?.errorsByCode).toEqual({ RETRIES_EXHAUSTED: 3 });
    await expectCountersEqualLogs(action);
    await waitFor(async () => (await t.platform.queue.depth()).deadLettered === 1, 5_000, 'the batch dead-lettered');
  });

  it('dead-letters it as it is when even its plan cannot be read, while the store answers other questions', async () => {
    t = await makeTestPlatform({ MAX_BATCH_ATTEMPTS: '3' });
    const ids = await seedContacts(2);
    const poison = await stored(ids.slice(0, 1));
    const good = await stored(ids.slice(1));
    await t.startWorkers({ jobStore: poisoned('plannedBatch', () => poison) });
    await publish(poison, good);
    expect((await waitForAction(t.platform, good)).status).toBe('COMPLETED');
    await waitFor(async () => (await t.platform.queue.depth()).deadLettered === 1, 10_000, 'the batch dead-lettered');
    expect(await t.platform.queue.depth()).toMatchObject({ ready: 0, delayed: 0 });
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[0]!))?.data.status).toBe('lead');
  });

  it('logs SUCCESS for an entity its handler wrote and then failed (written means SUCCESS, whatever fails after)', async () => {
    class AuditedContacts extends BaseEntityHandler {
      constructor() {
        super('contact');
      }
      async validateEntity(): Promise<boolean> {
        return true;
      }
      override async updateEntity(id: string, updates: FieldUpdates): Promise<void> {
        await this.crmClient.update(id, updates);
        if (id.endsWith('1')) throw new PermanentError('the audit service refused', 'AUDIT_FAILED');
      }
    }
    t = await makeTestPlatform({}, { handlers: { ...handlers, contact: new AuditedContacts() } });
    const ids = await seedContacts(3);
    await t.startWorkers();
    const action = await waitForAction(t.platform, await create('contact', ids));
    expect(action).toMatchObject({ status: 'COMPLETED', progress: { processed: 3, succeeded: 3, failed: 0, skipped: 0 } });
    expect((await t.platform.entityStore.get('contact', ACCOUNT, ids[1]!))?.data.status).toBe('customer');
    await expectCountersEqualLogs(action);
  });

  it('hands it back when settling it fails for a moment (the store answers again by the time it is asked), and settles it later', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '10', MAX_BATCH_ATTEMPTS: '1' });
    const ids = await seedContacts(20);
    let failuresLeft = 2;
    const flaky = Object.assign(Object.create(t.platform.jobStore) as typeof t.platform.jobStore, {
      recordOutcomes: async (...args: Parameters<typeof t.platform.jobStore.recordOutcomes>) => {
        if (failuresLeft > 0 && args[1].some((o) => o.seq < 10)) {
          failuresLeft--;
          throw new Error('connection reset');
        }
        return t.platform.jobStore.recordOutcomes(...args);
      },
    });
    await t.startWorkers({ jobStore: flaky });
    const action = await waitForAction(t.platform, await create('contact', ids), 10_000);
    expect(failuresLeft).toBe(0);
    // Written means SUCCESS: batch 0 wrote its entities on its only attempt, then settled on a later delivery.
    expect(action).toMatchObject({ status: 'COMPLETED', progress: { processed: 20, succeeded: 20, failed: 0, skipped: 0 } });
    await expectCountersEqualLogs(action);
  });

  it('hands it back, even past the last attempt, while the store does not answer at all: its outcomes must be recorded', async () => {
    t = await makeTestPlatform({ MAX_BATCH_ATTEMPTS: '3' });
    const ids = await seedContacts(1);
    const actionId = await stored(ids);
    const [batch] = await t.platform.jobStore.batchPlan(actionId);
    const down = Object.assign(Object.create(t.platform.jobStore) as typeof t.platform.jobStore, {
      getAction: async () => {
        throw new Error('connection refused');
      },
      ping: async () => {
        throw new Error('connection refused');
      },
    });
    for (const attempt of [3, 4]) await expect(processBatch({ ...t.platform, jobStore: down }, batch!, { attempt })).rejects.toThrow('connection refused');
    expect(await processBatch(t.platform, batch!, { attempt: 5 })).toBe('dead-letter'); // back: settled
    expect((await t.platform.jobStore.getAction(actionId))?.progress).toEqual({ processed: 1, succeeded: 0, failed: 1, skipped: 0 });
  });
});
