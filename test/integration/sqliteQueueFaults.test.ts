import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteBatchQueue } from '../../src/adapters/sqlite/sqliteBatchQueue';
import type { Subscription } from '../../src/queue/batchQueue';
import type { BatchMessage } from '../../src/types/entities';
import { waitFor } from '../support/waitFor';

let dir: string;
let db: SqliteDatabase;
let sub: Subscription | undefined;
afterEach(async () => {
  await sub?.stop();
  sub = undefined;
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const batch = (batchNo: number): BatchMessage => ({ actionId: 'a1', accountId: 'acme', entityType: 'contact', batchNo, entityIds: [`c${batchNo}`], seqs: [batchNo], fieldsToUpdate: { status: 'customer' }, createdAt: 0 });

describe('the SQLite queue when its database fails', () => {
  it('reports the error, keeps consuming, and delivers once the database is back', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-faults-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const queue = new SqliteBatchQueue(db, { pollMs: 10, retryDelayMs: 10 });
    const errors: string[] = [];
    const delivered: number[] = [];

    db.exec('ALTER TABLE queue_batches RENAME TO queue_batches_away'); // every claim now fails
    sub = await queue.consume(async (b) => void delivered.push(b.batchNo), { concurrency: 1, onError: (e) => errors.push(e.message) });
    await waitFor(() => errors.length >= 2, 5_000, 'claim errors reported');
    expect(errors[0]).toMatch(/no such table: queue_batches/);

    db.exec('ALTER TABLE queue_batches_away RENAME TO queue_batches');
    await queue.enqueue([batch(0), batch(1)]);
    await waitFor(() => delivered.length === 2, 5_000, 'both batches delivered');
    expect(delivered).toEqual([0, 1]);
    expect(await queue.depth()).toBe(0);
  });

  it('gives a rejected batch back after retryDelayMs, not at once', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-faults-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const queue = new SqliteBatchQueue(db, { pollMs: 10, retryDelayMs: 300 });
    const seenAt: number[] = [];
    await queue.enqueue([batch(0)]);
    sub = await queue.consume(async () => {
      seenAt.push(Date.now());
      if (seenAt.length === 1) throw new Error('give it back');
    }, { concurrency: 1 });
    await waitFor(() => seenAt.length === 2, 5_000, 'redelivery');
    expect(seenAt[1]! - seenAt[0]!).toBeGreaterThanOrEqual(290);
  });
});
