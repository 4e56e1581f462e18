import { describe, expect, it } from 'vitest';
import type { BatchRef, JobStore, NewAction, PurgeSlice } from '../../src/store/jobStore';
import type { BulkAction } from '../../src/types/entities';
import { makeAction, makeBatch, makeNewAction, makeOutcomes, T0 } from '../support/fixtures';

const DAY = 86_400_000;

/** Batch 0 with these positions, started at `startedAt` (epoch ms). */
function batchRef(seqs: number[], startedAt: number): BatchRef {
  const ref = { batchNo: 0, seqs, startedAt };
  return ref;
}

/**
 * The JobStore contract's retention part (`purgeExpired`), called from describeJobStoreContract
 * with the store of the test that runs. Keeps every action small: FerretDB's cost grows with size.
 */
export function describeJobStorePurge(current: () => JobStore): void {
  /** An action stored, run and ended with `outcomes` SUCCESS outcomes (seqs 0..n-1), completed at `completedAt`. */
  async function finished(completedAt: number, outcomes = 3, input: Partial<Omit<NewAction, 'action'>> = {}): Promise<BulkAction> {
    const action = makeAction({ totalEntities: outcomes, createdAt: completedAt - 1_000 });
    const plan = [makeBatch(action.id, 0, { seqs: [...Array(outcomes).keys()], entityIds: [...Array(outcomes).keys()].map((i) => `e-${i}`) })];
    expect(await current().insertAction(makeNewAction(action, { batches: plan, ...input }), null)).toEqual({ created: true });
    await current().markRunning(action.id, completedAt - 500);
    await current().recordOutcomes(action.id, [...makeOutcomes([0], 'FAILED'), ...makeOutcomes([...Array(outcomes).keys()].slice(1))], completedAt - 100);
    const done = await current().finishBatch(action.id, batchRef([...Array(outcomes).keys()], completedAt - 500), completedAt);
    expect(done?.completedAt).toBe(completedAt);
    return done!;
  }

  /** Slices until the store says it is done; the slices it took. */
  async function purgeAll(completedBefore: number, maxRows: number): Promise<PurgeSlice[]> {
    const slices: PurgeSlice[] = [];
    for (let i = 0; i < 1_000; i++) {
      const slice = await current().purgeExpired(completedBefore, maxRows);
      slices.push(slice);
      if (slice.done) return slices;
    }
    throw new Error('purgeExpired never said done');
  }

  const sum = (slices: PurgeSlice[], key: 'actionsRemoved' | 'rowsDeleted') => slices.reduce((n, s) => n + s[key], 0);

  describe('retention: purgeExpired', () => {
    it('removes an action that ended before the cutoff, with its outcomes, counts and Idempotency-Key', async () => {
      const old = await finished(T0, 3, { idempotencyKey: 'k-old' });
      const slices = await purgeAll(T0 + DAY, 100);
      expect(sum(slices, 'actionsRemoved')).toBe(1);
      expect(sum(slices, 'rowsDeleted')).toBeGreaterThanOrEqual(4); // the action and its 3 outcomes, at least
      expect(await current().getAction(old.id)).toBeNull();
      expect(await current().getActionWithErrors(old.id)).toBeNull();
      expect((await current().listActions({}, 0, 10)).items).toEqual([]);
      // The key is free again: a new request with it creates.
      const again = makeAction();
      expect(await current().insertAction(makeNewAction(again, { idempotencyKey: 'k-old' }), null)).toEqual({ created: true });
    });

    it('keeps an action that ended at or after the cutoff, whole', async () => {
      const old = await finished(T0);
      const young = await finished(T0 + 2 * DAY);
      const edge = await finished(T0 + DAY);
      await purgeAll(T0 + DAY, 100);
      expect(await current().getAction(old.id)).toBeNull();
      expect(await current().getAction(young.id)).toEqual(young);
      expect(await current().getAction(edge.id)).toEqual(edge);
      expect((await current().listOutcomes(young.id, null, 0, 10)).items.map((o) => o.seq)).toEqual([0, 1, 2]);
      expect((await current().getActionWithErrors(young.id))?.errorsByCode).toEqual({ NOT_FOUND: 1 });
    });

    it('never touches an action that has not ended, however old, nor its outcomes', async () => {
      const running = makeAction({ totalEntities: 4, createdAt: T0 - 400 * DAY });
      await current().insertAction(makeNewAction(running), null);
      await current().markRunning(running.id, T0 - 400 * DAY);
      await current().recordOutcomes(running.id, makeOutcomes([0, 1]), T0 - 400 * DAY);
      await current().finishBatch(running.id, batchRef([0, 1], T0 - 400 * DAY), T0 - 400 * DAY);
      const pending = makeAction({ createdAt: T0 - 400 * DAY });
      await current().insertAction(makeNewAction(pending), null);

      const slices = await purgeAll(T0 + 400 * DAY, 100);
      expect(sum(slices, 'actionsRemoved')).toBe(0);
      expect((await current().getAction(running.id))?.status).toBe('RUNNING');
      expect((await current().getAction(pending.id))?.status).toBe('PENDING');
      expect(await current().listOutcomes(running.id, null, 0, 10)).toMatchObject({ items: [{ seq: 0 }, { seq: 1 }], total: 2 });
    });

    it('removes an action at its first slice, then its outcomes a slice at a time', async () => {
      const old = await finished(T0, 7);
      const first = await current().purgeExpired(T0 + DAY, 2);
      expect(first).toMatchObject({ actionsRemoved: 1, done: false });
      expect(await current().getAction(old.id)).toBeNull();
      const rest = await purgeAll(T0 + DAY, 2);
      // 7 outcome rows at 2 a slice take 3 more slices at least.
      expect(rest.length).toBeGreaterThanOrEqual(4);
      expect(sum([first, ...rest], 'rowsDeleted')).toBeGreaterThanOrEqual(8);
      expect(await current().purgeExpired(T0 + DAY, 2)).toEqual({ actionsRemoved: 0, rowsDeleted: 0, bytesReclaimed: 0, done: true });
    });

    it('never lets outcomes of an action being purged pass for a new action\'s', async () => {
      // The only action, so the newest: its removal begins, and a new action is created before its
      // outcomes are gone. The new action's own outcomes at the same positions must be recorded.
      await finished(T0, 5);
      await current().purgeExpired(T0 + DAY, 1);
      const fresh = makeAction({ totalEntities: 5, createdAt: T0 + 2 * DAY });
      await current().insertAction(makeNewAction(fresh), null);
      await current().recordOutcomes(fresh.id, makeOutcomes([0, 1, 2, 3, 4], 'SKIPPED', 'DUPLICATE_ID'), T0 + 2 * DAY);
      await current().finishBatch(fresh.id, batchRef([0, 1, 2, 3, 4], T0 + 2 * DAY), T0 + 2 * DAY);
      await purgeAll(T0 + DAY, 1);
      const logs = await current().listOutcomes(fresh.id, null, 0, 10);
      expect(logs.items.map((o) => [o.seq, o.status])).toEqual([0, 1, 2, 3, 4].map((seq) => [seq, 'SKIPPED']));
      expect(await current().getAction(fresh.id)).toMatchObject({ status: 'COMPLETED', progress: { processed: 5, skipped: 5 } });
    });

    it('purges many small actions, oldest first, and says done when nothing is left', async () => {
      const olds = [await finished(T0 + 2), await finished(T0), await finished(T0 + 1)];
      const slices = await purgeAll(T0 + DAY, 1_000);
      expect(sum(slices, 'actionsRemoved')).toBe(3);
      for (const old of olds) expect(await current().getAction(old.id)).toBeNull();
      expect(await current().purgeExpired(T0 + DAY, 1_000)).toMatchObject({ actionsRemoved: 0, rowsDeleted: 0, done: true });
    });
  });
}
