import { describe, expect, it } from 'vitest';
import type { JobStore, NewAction } from '../../src/store/jobStore';
import type { BulkAction, Outcome } from '../../src/types/entities';
import { makeAction, makeBatch, makeNewAction, makeOutcome, T0 } from '../support/fixtures';

/**
 * The JobStore contract's lifecycle part, called from describeJobStoreContract with the store of
 * the test that runs: the batch plan (the outbox) from creation to clean-up, and completion.
 */
export function describeJobStoreLifecycle(current: () => JobStore): void {
  /** Inserts an action that must be created, and returns it. */
  async function create(overrides: Partial<BulkAction> = {}, input: Partial<Omit<NewAction, 'action'>> = {}): Promise<BulkAction> {
    const action = makeAction(overrides);
    expect(await current().insertAction(makeNewAction(action, input), null)).toEqual({ created: true });
    return action;
  }

  /**
   * Records outcomes as batch `batchNo` of the action and finishes that batch, processed from
   * `startedAt` (none: no processing time) to `at`; returns what finishBatch returned.
   */
  async function recordBatch(actionId: string, batchNo: number, outcomes: Outcome[], at = T0, startedAt?: number) {
    await current().recordOutcomes(actionId, outcomes, at);
    return current().finishBatch(actionId, { batchNo, seqs: outcomes.map((o) => o.seq), startedAt }, at);
  }

  describe('outbox: the batch plan', () => {
    const planOf = (actionId: string) => [
      makeBatch(actionId, 0),
      makeBatch(actionId, 1, { fieldsToUpdate: { tags: ['x'], score: 2.5, optedIn: false, note: null } }),
      makeBatch(actionId, 2, { entityIds: ['e-1', 'e-1'], seqs: [6, 7], firstSeqs: [1, 1] }),
    ];

    it('stores the plan with the action and gives it back exactly, in batchNo order', async () => {
      const action = makeAction();
      const plan = planOf(action.id);
      expect(await current().insertAction(makeNewAction(action, { batches: [plan[2]!, plan[0]!, plan[1]!] }), null)).toEqual({ created: true });
      expect(await current().batchPlan(action.id)).toEqual(plan);
    });

    it('lists an action as unpublished until it is marked published', async () => {
      const old = makeAction({ createdAt: T0 });
      const newer = makeAction({ createdAt: T0 + 5_000 });
      await current().insertAction(makeNewAction(old, { batches: planOf(old.id) }), null);
      await current().insertAction(makeNewAction(newer, { batches: planOf(newer.id) }), null);
      expect(await current().listUnpublished(T0 + 10_000, 10)).toEqual([old.id, newer.id]);
      expect(await current().listUnpublished(T0 + 1_000, 10)).toEqual([old.id]);
      expect(await current().listUnpublished(T0 + 10_000, 1)).toEqual([old.id]);
      await current().markPublished(old.id);
      await current().markPublished(old.id);
      expect(await current().listUnpublished(T0 + 10_000, 10)).toEqual([newer.id]);
      expect(await current().batchPlan(old.id)).toEqual(planOf(old.id));
    });

    it('never lists an action that is already over', async () => {
      const action = makeAction({ status: 'CANCELLED', completedAt: T0 + 1 });
      await current().insertAction(makeNewAction(action, { batches: planOf(action.id) }), null);
      expect(await current().listUnpublished(T0 + 10_000, 10)).toEqual([]);
    });

    it('stores nothing for a duplicate, not even its plan', async () => {
      await create({}, { idempotencyKey: 'k' });
      const second = makeAction();
      const result = await current().insertAction(makeNewAction(second, { idempotencyKey: 'k', batches: planOf(second.id) }), null);
      expect(result.created).toBe(false);
      expect(await current().getAction(second.id)).toBeNull();
      expect(await current().listUnpublished(T0 + 10_000, 10)).not.toContain(second.id);
    });

    it('drops the plan when the action finishes', async () => {
      const action = makeAction({ totalEntities: 1 });
      await current().insertAction(makeNewAction(action, { batches: [makeBatch(action.id, 0, { entityIds: ['e-0'], seqs: [0] })] }), null);
      await current().markPublished(action.id);
      expect(await recordBatch(action.id, 0, [makeOutcome(0)])).toMatchObject({ status: 'COMPLETED' });
      expect(await current().batchPlan(action.id)).toEqual([]);
    });
  });

  describe('completion', () => {
    it('completes once, by the call that counts the last batch', async () => {
      const action = await create({ totalEntities: 3 });
      await current().markRunning(action.id, T0 + 1);
      expect(await recordBatch(action.id, 0, [makeOutcome(0), makeOutcome(1, 'FAILED')], T0 + 2)).toBeNull();
      expect((await current().getAction(action.id))?.status).toBe('RUNNING');

      await current().recordOutcomes(action.id, [makeOutcome(2)], T0 + 4);
      const finished: BulkAction = {
        ...action, status: 'COMPLETED', startedAt: T0 + 1, completedAt: T0 + 5,
        progress: { processed: 3, succeeded: 2, failed: 1, skipped: 0 },
      };
      expect(await current().finishBatch(action.id, { batchNo: 1, seqs: [2] }, T0 + 5)).toEqual(finished);
      expect(await current().finishBatch(action.id, { batchNo: 1, seqs: [2] }, T0 + 6)).toBeNull();
      expect(await current().finishBatch(action.id, { batchNo: 0, seqs: [0, 1] }, T0 + 7)).toBeNull();
      expect(await current().getAction(action.id)).toEqual(finished);
    });

    it.each<[string, 'COMPLETED' | 'FAILED', Outcome[]]>([
      ['every entity failed', 'FAILED', [makeOutcome(0, 'FAILED'), makeOutcome(1, 'FAILED')]],
      ['nothing succeeded and something failed', 'FAILED', [makeOutcome(0, 'FAILED'), makeOutcome(1, 'SKIPPED')]],
      ['every entity was skipped', 'COMPLETED', [makeOutcome(0, 'SKIPPED'), makeOutcome(1, 'SKIPPED')]],
      ['one entity succeeded', 'COMPLETED', [makeOutcome(0, 'FAILED'), makeOutcome(1)]],
    ])('when %s, ends as %s', async (_label, status, outcomes) => {
      const action = await create({ totalEntities: 2 });
      expect(await recordBatch(action.id, 0, outcomes, T0 + 1)).toMatchObject({ status, completedAt: T0 + 1 });
    });

    it('adds up the time during which some batch was processed: overlaps once, gaps (downtime) not at all', async () => {
      const action = await create({ totalEntities: 5 });
      await current().markRunning(action.id, T0);
      const processingMs = async () => (await current().getAction(action.id))?.processingMs;
      expect(await processingMs()).toBe(0);
      expect(await recordBatch(action.id, 1, [makeOutcome(1)], T0 + 30, T0 + 15)).toBeNull(); // reported first, ends last
      expect(await processingMs()).toBe(15);
      await recordBatch(action.id, 0, [makeOutcome(0)], T0 + 20, T0 + 10); // overlaps it: [10, 30]
      expect(await processingMs()).toBe(20);
      // The process was down from 30 to 60 000: its restart's batches add only their own time.
      await recordBatch(action.id, 2, [makeOutcome(2)], T0 + 60_010, T0 + 60_000);
      expect(await processingMs()).toBe(30);
      await recordBatch(action.id, 2, [makeOutcome(2)], T0 + 60_010, T0 + 60_000); // redelivered
      expect(await processingMs()).toBe(30);
      await recordBatch(action.id, 3, [makeOutcome(3)], T0 + 60_008, T0 + 60_002); // inside the open span
      const finished = await recordBatch(action.id, 4, [makeOutcome(4)], T0 + 60_020, T0 + 60_005);
      expect(finished).toMatchObject({ status: 'COMPLETED', processingMs: 40, startedAt: T0, completedAt: T0 + 60_020 });
      // Over: a late delivery changes nothing.
      await current().finishBatch(action.id, { batchNo: 4, seqs: [4], startedAt: T0 + 70_000 }, T0 + 70_100);
      expect(await processingMs()).toBe(40);
    });

    it('never completes an action that is already over', async () => {
      const action = await create({ totalEntities: 1, status: 'CANCELLED', completedAt: T0 + 1 });
      expect(await recordBatch(action.id, 0, [makeOutcome(0)], T0 + 2)).toBeNull();
      expect((await current().getAction(action.id))?.status).toBe('CANCELLED');
    });
  });
}
