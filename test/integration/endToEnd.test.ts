import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedEntities } from '../../src/seeding/generateEntities';
import { waitFor } from '../support/waitFor';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/**
 * Tens of thousands of contacts through the real HTTP app, the real SQLite file and the real
 * queue and workers: stats equal the logs, entities really changed, another account's did not.
 */
const N = 30_000;
const DUPLICATE_EMAIL_RATE = 0.02;

let t: TestPlatform;
let ours: string[];
let theirs: string[];

beforeAll(async () => {
  t = await makeTestPlatform({ WORKER_CONCURRENCY: '2' }, { workers: true });
  ours = [];
  theirs = [];
  await seedEntities(t.platform.entityStore, 'contact', 'acme', N, {
    idPrefix: 'acme-',
    duplicateEmailRate: DUPLICATE_EMAIL_RATE,
    idSink: (ids) => void ours.push(...ids),
  });
  await seedEntities(t.platform.entityStore, 'contact', 'globex', 1_000, { idPrefix: 'globex-', seed: 7, idSink: (ids) => void theirs.push(...ids) });
});
afterAll(async () => t?.close());

interface LogRow {
  entityId: string;
  status: 'SUCCESS' | 'FAILED' | 'SKIPPED';
  code: string | null;
}

async function allLogs(actionId: string): Promise<LogRow[]> {
  const rows: LogRow[] = [];
  for (let page = 1; ; page++) {
    const body = (await t.app.inject({ url: `/api/bulk-actions/${actionId}/logs?page=${page}&limit=1000` })).json();
    rows.push(...(body.items as LogRow[]));
    if (rows.length >= body.total) return rows;
  }
}

describe(`end to end: ${N} contacts`, () => {
  it('updates every entity of the account, skips shared emails, and the stats equal the logs', async () => {
    const missing = ['acme-missing-1', 'acme-missing-2'];
    const repeats = ours.slice(0, 100);
    const foreign = theirs.slice(0, 50);
    const entityIds = [...ours, ...foreign, ...missing, ...repeats];

    const created = await t.app.inject({
      method: 'POST',
      url: '/api/bulk-actions',
      payload: { accountId: 'acme', entityType: 'contact', entityIds, fieldsToUpdate: { status: 'customer', title: 'Chief Bulk Officer', tags: ['bulk'] } },
    });
    expect(created.statusCode).toBe(202);
    const action = await waitForAction(t.platform, created.json().id, 120_000);
    expect(action.status).toBe('COMPLETED');

    const stats = (await t.app.inject({ url: `/api/bulk-actions/${action.id}/stats` })).json();
    const logs = await allLogs(action.id);
    expect(logs).toHaveLength(entityIds.length);
    expect(logs.map((r) => r.entityId)).toEqual(entityIds); // request order, one row per submitted ID

    const count = (status: string, code?: string) => logs.filter((r) => r.status === status && (code === undefined || r.code === code)).length;
    expect(stats).toMatchObject({
      total: entityIds.length,
      processed: entityIds.length,
      pending: 0,
      progress: 100,
      succeeded: count('SUCCESS'),
      failed: count('FAILED'),
      skipped: count('SKIPPED'),
    });
    const codes: Record<string, number> = {};
    for (const r of logs) if (r.code) codes[r.code] = (codes[r.code] ?? 0) + 1;
    expect(stats.errorsByCode).toEqual(codes);

    // Another account's entities are reported exactly like missing ones.
    expect(count('FAILED', 'NOT_FOUND')).toBe(foreign.length + missing.length);
    expect(count('SKIPPED', 'DUPLICATE_ID')).toBe(repeats.length);

    // One entity per email is updated; every other holder of that email is skipped.
    const emails = new Map<string, number>();
    for (const id of ours) {
      const e = await t.platform.entityStore.get('contact', 'acme', id);
      const key = String(e!.data.email).toLowerCase();
      emails.set(key, (emails.get(key) ?? 0) + 1);
    }
    const extraHolders = [...emails.values()].reduce((sum, n) => sum + n - 1, 0);
    expect(extraHolders).toBeGreaterThan(N * DUPLICATE_EMAIL_RATE * 0.5);
    expect(count('SKIPPED', 'DUPLICATE_EMAIL')).toBe(extraHolders);
    expect(count('SUCCESS')).toBe(N - extraHolders);

    // The entities really changed, exactly where the logs say so.
    const status = new Map(logs.slice(0, N).map((r) => [r.entityId, r.status]));
    let changed = 0;
    for (const id of ours) {
      const e = await t.platform.entityStore.get('contact', 'acme', id);
      const updated = e!.data.status === 'customer' && e!.data.title === 'Chief Bulk Officer';
      if (status.get(id) === 'SUCCESS') {
        expect(updated).toBe(true);
        expect(e!.data.tags).toEqual(['bulk']);
        changed++;
      } else {
        expect(e!.data.title).not.toBe('Chief Bulk Officer');
      }
    }
    expect(changed).toBe(count('SUCCESS'));

    for (const id of theirs) {
      const e = await t.platform.entityStore.get('contact', 'globex', id);
      expect(e!.data.title).not.toBe('Chief Bulk Officer');
    }

    // Temporary data is gone; logs and stats stay.
    // The last batch is acknowledged just after it completed the action.
    await waitFor(async () => (await t.platform.queue.depth()).unacked === 0, 5_000, 'the last batch acknowledged');
    expect(await t.platform.queue.depth()).toEqual({ ready: 0, unacked: 0, delayed: 0, deadLettered: 0 });
    expect(await t.platform.jobStore.batchPlan(action.id)).toEqual([]);
  });
});
