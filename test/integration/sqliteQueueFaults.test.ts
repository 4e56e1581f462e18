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

const batch = (batchNo: number): BatchMessage => ({ actionId: 'a1', accountId: 'acme', entityType: 'contact', batchNo, entityIds: [`c${batchNo}`], seqs: [batchNo], fieldsToUpdate: { status: 'customer' } });

describe('the SQLite queue when its database fails', () => {
  it('reports the error, keeps consuming, and delivers once the database is back', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-faults-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const queue = new SqliteBatchQueue(db, { pollMs: 10, errorPauseMs: 10, retry: { backoffMs: () => 10 } });
    const errors: string[] = [];
    const delivered: number[] = [];

    db.exec('ALTER TABLE queue_batches RENAME TO queue_batches_away'); // every claim now fails
    sub = await queue.consume(async (b) => {
      delivered.push(b.batchNo);
      return 'ack';
    }, { concurrency: 1, onError: (e) => errors.push(e.message) });
    await waitFor(() => errors.length >= 2, 5_000, 'claim errors reported');
    expect(errors[0]).toMatch(/no such table: queue_batches/);

    db.exec('ALTER TABLE queue_batches_away RENAME TO queue_batches');
    await queue.publish([batch(0), batch(1)]);
    await waitFor(() => delivered.length === 2, 5_000, 'both batches delivered');
    expect(delivered).toEqual([0, 1]);
    await waitFor(async () => (await queue.depth()).unacked === 0, 5_000, 'both acknowledged');
    expect(await queue.depth()).toEqual({ ready: 0, unacked: 0, delayed: 0, deadLettered: 0 });
  });

  it('dead-letters a row that is not a batch, reports it, and keeps flowing', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-faults-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const queue = new SqliteBatchQueue(db, { pollMs: 10, retry: { backoffMs: () => 10 } });
    db.prepare('INSERT INTO queue_batches (action_id, payload) VALUES (?, ?)').run('a1', '\u0000not json');
    db.prepare('INSERT INTO queue_batches (action_id, payload) VALUES (?, ?)').run('a1', '{"actionId":"a1"}');
    await queue.publish([batch(0)]);
    const errors: string[] = [];
    const delivered: number[] = [];
    sub = await queue.consume(async (b) => {
      delivered.push(b.batchNo);
      return 'ack';
    }, { concurrency: 1, onError: (e) => errors.push(e.message) });
    await waitFor(async () => delivered.length === 1 && (await queue.depth()).deadLettered === 2, 5_000, 'two dead letters, one delivery');
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/not a batch/);
    const reasons = db.prepare('SELECT reason FROM queue_dead_letters ORDER BY id').pluck().all() as string[];
    expect(reasons[1]).toBe('malformed payload: accountId is not a non-empty string');
  });

  it('gives a rejected batch back after its backoff, not at once', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-faults-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const queue = new SqliteBatchQueue(db, { pollMs: 10, retry: { backoffMs: () => 300 } });
    const seenAt: number[] = [];
    await queue.publish([batch(0)]);
    sub = await queue.consume(async () => {
      seenAt.push(Date.now());
      if (seenAt.length === 1) throw new Error('give it back');
      return 'ack';
    }, { concurrency: 1 });
    await waitFor(() => seenAt.length === 2, 5_000, 'redelivery');
    expect(seenAt[1]! - seenAt[0]!).toBeGreaterThanOrEqual(290);
  });
});
