import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobStore, NewAction } from '../../src/store/jobStore';
import type { BulkAction, Outcome, OutcomeStatus } from '../../src/types/entities';
import { makeAction, makeNewAction, makeOutcome, makeOutcomes, T0 } from '../support/fixtures';
import { describeJobStoreLifecycle } from './jobStoreLifecycle.contract';
import { describeJobStorePurge } from './jobStorePurge.contract';

export type MakeJobStore = () => Promise<{ store: JobStore; cleanup: () => Promise<void> }>;

/** The JobStore port's behaviour, run against every adapter. Uses only the port: the factory is the adapter-specific part. */
export function describeJobStoreContract(name: string, makeStore: MakeJobStore): void {
  describe(`JobStore contract: ${name}`, () => {
    let store: JobStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await cleanup();
    });

    /** Inserts an action that must be created, and returns it. */
    async function create(overrides: Partial<BulkAction> = {}, input: Partial<Omit<NewAction, 'action'>> = {}): Promise<BulkAction> {
      const action = makeAction(overrides);
      expect(await store.insertAction(makeNewAction(action, input), null)).toEqual({ created: true });
      return action;
    }

    async function progressOf(id: string): Promise<BulkAction['progress'] | undefined> {
      return (await store.getAction(id))?.progress;
    }

    /** Records outcomes as batch `batchNo` of the action and finishes that batch; returns what finishBatch returned. */
    async function recordBatch(actionId: string, batchNo: number, outcomes: Outcome[], at = T0) {
      await store.recordOutcomes(actionId, outcomes, at);
      return store.finishBatch(actionId, { batchNo, seqs: outcomes.map((o) => o.seq) }, at);
    }

    describe('actions', () => {
      it('returns null for an unknown action id', async () => {
        expect(await store.getAction('00000000-0000-4000-8000-000000000000')).toBeNull();
      });

      it.each<[string, Partial<BulkAction>]>([
        ['a scheduled action with every value type in fieldsToUpdate', {
          status: 'SCHEDULED', entityType: 'lead', totalEntities: 7, scheduledAt: T0 + 60_000,
          fieldsToUpdate: { status: 'customer', score: 1.5, vip: true, note: null, tags: ['a', 'b'] },
        }],
        ['a finished action with every optional field set', {
          status: 'FAILED', startedAt: T0 + 1, completedAt: T0 + 2, scheduledAt: T0,
        }],
      ])('round-trips every field of %s', async (_label, overrides) => {
        const action = await create(overrides);
        expect(await store.getAction(action.id)).toEqual(action);
      });

      it('starts with zero counters and no outcomes', async () => {
        const action = await create({ totalEntities: 5 });
        expect(await progressOf(action.id)).toEqual({ processed: 0, succeeded: 0, failed: 0, skipped: 0 });
        expect(await store.listOutcomes(action.id, null, 0, 10)).toEqual({ items: [], total: 0 });
        expect((await store.getActionWithErrors(action.id))?.errorsByCode).toEqual({});
      });
    });

    describe('duplicate detection', () => {
      it('returns the stored action, payload hash and response for a repeated Idempotency-Key', async () => {
        const first = await create({}, { idempotencyKey: 'key-1', payloadHash: 'hash-1', creationResponse: '{"id":"first"}' });
        const second = makeAction();
        const result = await store.insertAction(makeNewAction(second, { idempotencyKey: 'key-1', payloadHash: 'hash-2' }), null);
        expect(result).toEqual({
          created: false, reason: 'IDEMPOTENCY_KEY', existing: first, payloadHash: 'hash-1', creationResponse: '{"id":"first"}',
        });
        expect(await store.getAction(second.id)).toBeNull();
      });

      it('scopes Idempotency-Keys to the account', async () => {
        const first = await create({ accountId: 'acct-a' }, { idempotencyKey: 'key-1' });
        const second = await create({ accountId: 'acct-b' }, { idempotencyKey: 'key-1' });
        expect((await store.getAction(first.id))?.accountId).toBe('acct-a');
        expect((await store.getAction(second.id))?.accountId).toBe('acct-b');
      });

      it('rejects the same payload created at or after duplicateSince', async () => {
        const first = await create({ createdAt: T0 }, { payloadHash: 'same' });
        const second = makeAction({ createdAt: T0 + 10 });
        expect(await store.insertAction(makeNewAction(second, { payloadHash: 'same' }), T0)).toEqual({
          created: false, reason: 'DUPLICATE_PAYLOAD', existing: first,
        });
        expect(await store.getAction(second.id)).toBeNull();
      });

      it.each<[string, number | null, string]>([
        ['created before the window', T0 + 1, 'acct-a'],
        ['with no window (duplicateSince null)', null, 'acct-a'],
        ['in another account', T0, 'acct-b'],
      ])('creates an action whose payload matches one %s', async (_label, duplicateSince, accountId) => {
        await create({ createdAt: T0, accountId: 'acct-a' }, { payloadHash: 'same' });
        const second = makeAction({ createdAt: T0 + 10, accountId });
        expect(await store.insertAction(makeNewAction(second, { payloadHash: 'same' }), duplicateSince)).toEqual({ created: true });
        expect(await store.getAction(second.id)).toEqual(second);
      });
    });

    describe('listActions', () => {
      it('lists newest first with the total', async () => {
        const old = await create({ createdAt: T0 + 1_000 });
        const newest = await create({ createdAt: T0 + 3_000 });
        const middle = await create({ createdAt: T0 + 2_000 });
        expect(await store.listActions({}, 0, 10)).toEqual({ items: [newest, middle, old], total: 3 });
      });

      it('filters by account, status and entity type, alone and together', async () => {
        const a1 = await create({ createdAt: T0 + 1, accountId: 'acct-a', status: 'PENDING', entityType: 'contact' });
        const a2 = await create({ createdAt: T0 + 2, accountId: 'acct-a', status: 'COMPLETED', entityType: 'lead' });
        const a3 = await create({ createdAt: T0 + 3, accountId: 'acct-a', status: 'PENDING', entityType: 'lead' });
        const b1 = await create({ createdAt: T0 + 4, accountId: 'acct-b', status: 'PENDING', entityType: 'lead' });
        const ids = async (filter: Parameters<JobStore['listActions']>[0]) => {
          const page = await store.listActions(filter, 0, 10);
          return { ids: page.items.map((a) => a.id), total: page.total };
        };
        expect(await ids({ accountId: 'acct-a' })).toEqual({ ids: [a3.id, a2.id, a1.id], total: 3 });
        expect(await ids({ status: 'PENDING' })).toEqual({ ids: [b1.id, a3.id, a1.id], total: 3 });
        expect(await ids({ entityType: 'lead' })).toEqual({ ids: [b1.id, a3.id, a2.id], total: 3 });
        expect(await ids({ accountId: 'acct-a', status: 'PENDING', entityType: 'lead' })).toEqual({ ids: [a3.id], total: 1 });
        expect(await ids({ accountId: 'acct-c' })).toEqual({ ids: [], total: 0 });
      });

      it('pages with offset and limit while total counts every match', async () => {
        const actions: BulkAction[] = [];
        for (let i = 0; i < 5; i++) actions.push(await create({ createdAt: T0 + i }));
        const newestFirst = actions.reverse().map((a) => a.id);
        const page = await store.listActions({}, 1, 2);
        expect({ ids: page.items.map((a) => a.id), total: page.total }).toEqual({ ids: newestFirst.slice(1, 3), total: 5 });
        expect(await store.listActions({}, 5, 2)).toEqual({ items: [], total: 5 });
      });
    });

    describe('countActionsByStatus and ping (for /metrics and /ready)', () => {
      it('counts the actions in every status, 0 for a status none is in', async () => {
        expect(await store.countActionsByStatus()).toEqual({ PENDING: 0, SCHEDULED: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0 });
        await create({ status: 'PENDING' });
        await create({ status: 'PENDING', accountId: 'acct-b' });
        await create({ status: 'COMPLETED', completedAt: T0 + 1 });
        const running = await create({ status: 'PENDING' });
        await store.markRunning(running.id, T0 + 2);
        expect(await store.countActionsByStatus()).toEqual({ PENDING: 2, SCHEDULED: 0, RUNNING: 1, COMPLETED: 1, FAILED: 0, CANCELLED: 0 });
      });

      it('answers a ping', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('markRunning', () => {
      it('moves a PENDING action to RUNNING once and stamps startedAt', async () => {
        const action = await create();
        await store.markRunning(action.id, T0 + 5);
        await store.markRunning(action.id, T0 + 9);
        expect(await store.getAction(action.id)).toEqual({ ...action, status: 'RUNNING', startedAt: T0 + 5 });
      });

      it('moves a SCHEDULED action to RUNNING', async () => {
        const action = await create({ status: 'SCHEDULED', scheduledAt: T0 + 1 });
        await store.markRunning(action.id, T0 + 5);
        expect(await store.getAction(action.id)).toEqual({ ...action, status: 'RUNNING', startedAt: T0 + 5 });
      });

      it.each(['COMPLETED', 'FAILED', 'CANCELLED'] as const)('leaves a %s action alone', async (status) => {
        const action = await create({ status, completedAt: T0 + 1 });
        await store.markRunning(action.id, T0 + 5);
        expect(await store.getAction(action.id)).toEqual(action);
      });

      it('creates nothing for an unknown action', async () => {
        await store.markRunning('00000000-0000-4000-8000-000000000000', T0);
        expect(await store.getAction('00000000-0000-4000-8000-000000000000')).toBeNull();
      });
    });

    describe('outcomes and counters', () => {
      const mixed: Outcome[] = [
        makeOutcome(0), makeOutcome(1), makeOutcome(2, 'FAILED', 'NOT_FOUND'), makeOutcome(3, 'SKIPPED', 'DUPLICATE_EMAIL'),
      ];

      it('records the same outcomes only once, and counts a batch once however often it is finished', async () => {
        const action = await create();
        await store.recordOutcomes(action.id, mixed, T0 + 1);
        await store.recordOutcomes(action.id, mixed.map((o) => ({ ...o, status: 'FAILED', code: 'OTHER' })), T0 + 2);
        const ref = { batchNo: 0, seqs: [0, 1, 2, 3] };
        await store.finishBatch(action.id, ref, T0 + 3);
        await store.finishBatch(action.id, ref, T0 + 4);
        expect(await progressOf(action.id)).toEqual({ processed: 4, succeeded: 2, failed: 1, skipped: 1 });
        expect((await store.getActionWithErrors(action.id))?.errorsByCode).toEqual({ NOT_FOUND: 1, DUPLICATE_EMAIL: 1 });
        const logs = (await store.listOutcomes(action.id, null, 0, 10)).items;
        expect(logs.map((o) => [o.status, o.code, o.processedAt])).toEqual([
          ['SUCCESS', null, T0 + 1], ['SUCCESS', null, T0 + 1], ['FAILED', 'NOT_FOUND', T0 + 1], ['SKIPPED', 'DUPLICATE_EMAIL', T0 + 1],
        ]);
      });

      it('counts a batch recorded in several calls (a retry after a partial failure) exactly once', async () => {
        const action = await create();
        await store.recordOutcomes(action.id, makeOutcomes([0, 1], 'FAILED', 'NOT_FOUND'), T0);
        await store.recordOutcomes(action.id, [...makeOutcomes([1], 'SUCCESS'), ...makeOutcomes([2, 3], 'FAILED', 'UPDATE_FAILED')], T0);
        await store.finishBatch(action.id, { batchNo: 0, seqs: [0, 1, 2, 3] }, T0);
        await store.finishBatch(action.id, { batchNo: 0, seqs: [0, 1, 2, 3] }, T0);
        expect(await progressOf(action.id)).toEqual({ processed: 4, succeeded: 0, failed: 4, skipped: 0 });
        expect((await store.getActionWithErrors(action.id))?.errorsByCode).toEqual({ NOT_FOUND: 2, UPDATE_FAILED: 2 });
      });

      it('counts batches finished at the same time (two workers, redeliveries) exactly once each', async () => {
        const batches = 8;
        const action = await create({ totalEntities: batches * 2 });
        for (let b = 0; b < batches; b++) {
          await store.recordOutcomes(action.id, [makeOutcome(b * 2), makeOutcome(b * 2 + 1, 'FAILED', 'NOT_FOUND')], T0);
        }
        const finishes = Array.from({ length: batches }, (_, b) => store.finishBatch(action.id, { batchNo: b, seqs: [b * 2, b * 2 + 1] }, T0 + 1));
        const again = Array.from({ length: batches }, (_, b) => store.finishBatch(action.id, { batchNo: b, seqs: [b * 2, b * 2 + 1] }, T0 + 2));
        const results = await Promise.all([...finishes, ...again]);
        expect(results.filter((r) => r !== null)).toHaveLength(1);
        expect(await progressOf(action.id)).toEqual({ processed: 16, succeeded: 8, failed: 8, skipped: 0 });
        expect((await store.getActionWithErrors(action.id))?.errorsByCode).toEqual({ NOT_FOUND: 8 });
        expect((await store.getAction(action.id))?.status).toBe('COMPLETED');
      });

      it('records a seq repeated within one call once', async () => {
        const action = await create();
        await recordBatch(action.id, 0, [makeOutcome(0), makeOutcome(0, 'FAILED')]);
        expect(await progressOf(action.id)).toEqual({ processed: 1, succeeded: 1, failed: 0, skipped: 0 });
        expect((await store.listOutcomes(action.id, null, 0, 10)).items.map((o) => o.status)).toEqual(['SUCCESS']);
      });

      it('keeps counters and error counts equal to the outcome logs', async () => {
        const action = await create({ totalEntities: 20 });
        await recordBatch(action.id, 0, [...makeOutcomes([0, 1, 2, 3]), ...makeOutcomes([4, 5], 'FAILED', 'NOT_FOUND')]);
        await recordBatch(action.id, 1, [...makeOutcomes([6]), ...makeOutcomes([7], 'FAILED', 'VALIDATION_FAILED')]);
        await recordBatch(action.id, 2, [makeOutcome(10), ...makeOutcomes([8, 9], 'SKIPPED', 'DUPLICATE_EMAIL'), makeOutcome(11)]);
        await recordBatch(action.id, 3, makeOutcomes([18, 19], 'SKIPPED', 'DUPLICATE_ID'));
        // A code a handler chose, with characters a document store treats specially in field names.
        await recordBatch(action.id, 4, makeOutcomes([12], 'FAILED', 'crm.$limit%'));

        const logs = (await store.listOutcomes(action.id, null, 0, 100)).items;
        const count = (status: OutcomeStatus) => logs.filter((o) => o.status === status).length;
        const codes: Record<string, number> = {};
        for (const o of logs) if (o.status !== 'SUCCESS') codes[o.code ?? ''] = (codes[o.code ?? ''] ?? 0) + 1;

        expect(logs.length).toBe(15);
        expect(await progressOf(action.id)).toEqual({
          processed: logs.length, succeeded: count('SUCCESS'), failed: count('FAILED'), skipped: count('SKIPPED'),
        });
        expect(await progressOf(action.id)).toEqual({ processed: 15, succeeded: 7, failed: 4, skipped: 4 });
        expect((await store.getActionWithErrors(action.id))?.errorsByCode).toEqual(codes);
        expect(codes).toEqual({ DUPLICATE_ID: 2, NOT_FOUND: 2, VALIDATION_FAILED: 1, DUPLICATE_EMAIL: 2, 'crm.$limit%': 1 });
        const together = await store.getActionWithErrors(action.id);
        expect(together?.action.progress).toEqual({ processed: 15, succeeded: 7, failed: 4, skipped: 4 });
        expect(together?.errorsByCode).toEqual(codes);
        expect(await store.getActionWithErrors('no-such-action')).toBeNull();
        for (const status of ['SUCCESS', 'FAILED', 'SKIPPED'] as const) {
          expect((await store.listOutcomes(action.id, status, 0, 100)).total).toBe(count(status));
        }
      });

      it('reports exactly the recorded subset of the seqs asked about, per action', async () => {
        const action = await create();
        const other = await create();
        await store.recordOutcomes(action.id, makeOutcomes([1, 3, 5]), T0);
        await store.recordOutcomes(other.id, makeOutcomes([0, 2]), T0);
        expect(await store.recordedSeqs(action.id, [0, 1, 2, 3, 4, 5, 6])).toEqual(new Set([1, 3, 5]));
        expect(await store.recordedSeqs(action.id, [0, 2])).toEqual(new Set());
        expect(await store.recordedSeqs(action.id, [])).toEqual(new Set());
      });

      it('lists outcomes in seq order, filtered by status and paged, with processedAt', async () => {
        const action = await create();
        await recordBatch(action.id, 0, [makeOutcome(4), makeOutcome(0, 'FAILED'), makeOutcome(2)], T0 + 1);
        await recordBatch(action.id, 1, [makeOutcome(3, 'FAILED'), makeOutcome(1)], T0 + 2);
        const at = (o: Outcome, processedAt: number) => ({ ...o, processedAt });

        expect(await store.listOutcomes(action.id, null, 0, 10)).toEqual({
          items: [at(makeOutcome(0, 'FAILED'), T0 + 1), at(makeOutcome(1), T0 + 2), at(makeOutcome(2), T0 + 1),
            at(makeOutcome(3, 'FAILED'), T0 + 2), at(makeOutcome(4), T0 + 1)],
          total: 5,
        });
        expect(await store.listOutcomes(action.id, 'SUCCESS', 1, 1)).toEqual({ items: [at(makeOutcome(2), T0 + 1)], total: 3 });
        expect(await store.listOutcomes(action.id, 'FAILED', 0, 10)).toEqual({
          items: [at(makeOutcome(0, 'FAILED'), T0 + 1), at(makeOutcome(3, 'FAILED'), T0 + 2)],
          total: 2,
        });
        expect(await store.listOutcomes(action.id, 'SKIPPED', 0, 10)).toEqual({ items: [], total: 0 });
        expect(await store.listOutcomes(action.id, null, 4, 10)).toEqual({ items: [at(makeOutcome(4), T0 + 1)], total: 5 });
      });
    });

    describe('key claims', () => {
      const claim = (key: string, seq: number) => ({ key, seq, entityId: `e-${seq}` });

      it('gives a key to its first claimer and reports that owner to later claimers', async () => {
        const action = await create();
        expect(await store.claimKeys(action.id, [claim('ann@x.com', 0)])).toEqual(new Map([['ann@x.com', claim('ann@x.com', 0)]]));
        expect(await store.claimKeys(action.id, [claim('ann@x.com', 5), claim('bob@x.com', 5)])).toEqual(
          new Map([['ann@x.com', claim('ann@x.com', 0)], ['bob@x.com', claim('bob@x.com', 5)]]),
        );
      });

      it('gives a retrying owner its own claim back', async () => {
        const action = await create();
        await store.claimKeys(action.id, [claim('ann@x.com', 2)]);
        expect(await store.claimKeys(action.id, [claim('ann@x.com', 2)])).toEqual(new Map([['ann@x.com', claim('ann@x.com', 2)]]));
      });

      it('gives a key claimed twice in one call to the first in the list', async () => {
        const action = await create();
        expect(await store.claimKeys(action.id, [claim('ann@x.com', 3), claim('ann@x.com', 1)])).toEqual(
          new Map([['ann@x.com', claim('ann@x.com', 3)]]),
        );
        expect(await store.claimKeys(action.id, [claim('ann@x.com', 1)])).toEqual(new Map([['ann@x.com', claim('ann@x.com', 3)]]));
      });

      it('keeps each action\'s claims apart', async () => {
        const first = await create();
        const second = await create();
        await store.claimKeys(first.id, [claim('ann@x.com', 0)]);
        expect(await store.claimKeys(second.id, [claim('ann@x.com', 7)])).toEqual(new Map([['ann@x.com', claim('ann@x.com', 7)]]));
      });

      it('drops an action\'s claims when it completes', async () => {
        const action = await create({ totalEntities: 1 });
        await store.claimKeys(action.id, [claim('ann@x.com', 0)]);
        expect((await recordBatch(action.id, 0, [makeOutcome(0)]))?.status).toBe('COMPLETED');
        expect(await store.claimKeys(action.id, [claim('ann@x.com', 9)])).toEqual(new Map([['ann@x.com', claim('ann@x.com', 9)]]));
      });
    });

    describeJobStoreLifecycle(() => store);
    describeJobStorePurge(() => store);
  });
}
