import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteJobStore } from '../../src/adapters/sqlite/sqliteJobStore';
import type { PurgeSlice } from '../../src/store/jobStore';
import type { BulkAction, Outcome } from '../../src/types/entities';
import { makeAction, makeNewAction, T0 } from '../support/fixtures';

/**
 * What only SQLite does in the retention purge (the port's behaviour is in
 * test/contract/jobStorePurge.contract.ts): slices bounded by rows, no row left behind, dead
 * letters by age, and the file giving its space back.
 */
const DAY = 86_400_000;
let dir: string;
let db: SqliteDatabase;
let store: SqliteJobStore;

function open(file = path.join(dir, 'test.db')): void {
  db = openDatabase(file);
  store = new SqliteJobStore(db);
}

afterEach(() => {
  db?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function fresh(): void {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-purge-'));
  open();
}

/** A finished action with `n` outcomes (every tenth FAILED), completed at `completedAt`. */
async function finished(n: number, completedAt: number): Promise<BulkAction> {
  const action = makeAction({ totalEntities: n, createdAt: completedAt - 1_000 });
  await store.insertAction(makeNewAction(action), null);
  const outcomes: Outcome[] = Array.from({ length: n }, (_, seq) => (seq % 10 === 0
    ? { seq, entityId: `contact-${seq}`, status: 'FAILED', code: 'NOT_FOUND', params: null }
    : { seq, entityId: `contact-${seq}`, status: 'SUCCESS', code: null, params: null }));
  for (let i = 0; i < n; i += 5_000) await store.recordOutcomes(action.id, outcomes.slice(i, i + 5_000), completedAt - 100);
  const ref = { batchNo: 0, seqs: [], startedAt: completedAt - 500 }; // startedAt: the batch's processing interval
  const done = await store.finishBatch(action.id, ref, completedAt);
  expect(done?.status).toBe('COMPLETED');
  return done!;
}

async function purgeAll(completedBefore: number, maxRows: number): Promise<PurgeSlice[]> {
  const slices: PurgeSlice[] = [];
  for (;;) {
    const slice = await store.purgeExpired(completedBefore, maxRows);
    slices.push(slice);
    if (slice.done) return slices;
  }
}

const count = (sql: string) => (db.prepare(sql).pluck().get() as number);
const pages = () => ({ pageCount: db.pragma('page_count', { simple: true }) as number, free: db.pragma('freelist_count', { simple: true }) as number });

describe('SQLite retention purge', () => {
  it('deletes every row of an expired action in slices of at most maxRows, and keeps the young one whole', async () => {
    fresh();
    const old = await finished(5_000, T0);
    const young = await finished(300, T0 + 10 * DAY);
    const slices = await purgeAll(T0 + DAY, 1_000);
    // The action row and its per-code count come with the first slice; 5,000 outcome rows take 5 more.
    for (const slice of slices) expect(slice.rowsDeleted).toBeLessThanOrEqual(1_000 + 2);
    expect(slices.filter((s) => s.rowsDeleted > 0).length).toBeGreaterThanOrEqual(6);
    expect(slices.reduce((n, s) => n + s.rowsDeleted, 0)).toBe(1 + 1 + 5_000);
    expect(await store.getAction(old.id)).toBeNull();
    expect(count('SELECT count(*) FROM action_outcomes')).toBe(300);
    expect(count('SELECT count(*) FROM action_error_counts')).toBe(1);
    expect(count('SELECT count(*) FROM action_purges')).toBe(0);
    expect((await store.listOutcomes(young.id, null, 0, 1_000)).items).toHaveLength(300);
  });

  it('gives the freed pages back to the file system: page_count and the file shrink', async () => {
    fresh();
    await finished(30_000, T0);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const before = { ...pages(), bytes: fs.statSync(path.join(dir, 'test.db')).size };
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);

    const slices = await purgeAll(T0 + DAY, 1_000);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const after = { ...pages(), bytes: fs.statSync(path.join(dir, 'test.db')).size };
    expect(after.free).toBe(0);
    expect(after.pageCount).toBeLessThan(before.pageCount / 4);
    expect(after.bytes).toBeLessThan(before.bytes / 4);
    expect(slices.reduce((n, s) => n + s.bytesReclaimed, 0)).toBe((before.pageCount - after.pageCount) * 4096);
  });

  it('purges dead letters by their own age, whatever their action', async () => {
    fresh();
    const insert = db.prepare('INSERT INTO queue_dead_letters (action_id, payload, reason, deliveries, dead_lettered_at) VALUES (?, ?, ?, ?, ?)');
    insert.run(null, 'garbage', 'body is not JSON', 5, T0);
    insert.run('a-1', '{}', 'out of attempts', 5, T0 + 10);
    insert.run('a-2', '{}', 'out of attempts', 5, T0 + 2 * DAY);
    const slices = await purgeAll(T0 + DAY, 1);
    expect(slices.reduce((n, s) => n + s.rowsDeleted, 0)).toBe(2);
    expect(db.prepare('SELECT action_id FROM queue_dead_letters').pluck().all()).toEqual(['a-2']);
  });

  it('on a file from before incremental vacuum, purges all the same and leaves the pages for reuse', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-purge-'));
    const file = path.join(dir, 'old.db');
    const old = new Database(file); // a table before openDatabase: auto_vacuum can no longer change without VACUUM
    old.exec('CREATE TABLE legacy (x INTEGER)');
    old.close();
    open(file);
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(0);
    const action = await finished(3_000, T0);
    const slices = await purgeAll(T0 + DAY, 1_000);
    expect(await store.getAction(action.id)).toBeNull();
    expect(count('SELECT count(*) FROM action_outcomes')).toBe(0);
    expect(slices.every((s) => s.bytesReclaimed === 0)).toBe(true);
    expect(pages().free).toBeGreaterThan(0);
  });

  it('answers no rows, not an error, to a connection that read the action before another connection purged it', async () => {
    fresh();
    const action = await finished(20, T0);
    const reader = new SqliteJobStore(openDatabase(path.join(dir, 'test.db')));
    try {
      expect((await reader.listOutcomes(action.id, null, 0, 5)).total).toBe(20); // the reader knows the action now
      await purgeAll(T0 + DAY, 1_000); // in another connection, as the purge runs in worker thread 0
      expect(await reader.listOutcomes(action.id, null, 0, 5)).toEqual({ items: [], total: 0 });
      expect(await reader.listOutcomes(action.id, 'FAILED', 0, 5)).toEqual({ items: [], total: 0 });
    } finally {
      await reader.close();
    }
  });
});
