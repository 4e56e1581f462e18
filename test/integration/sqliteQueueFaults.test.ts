import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteBatchQueue } from '../../src/adapters/sqlite/sqliteBatchQueue';
import type { Subscription } from '../../src/queue/batchQueue';
import type { BatchMessage } from '../../src/types/entities';
import { letOtherWorkRun, waitFor } from '../support/waitFor';

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

/** The queue row as a consumer whose lease was taken over must leave it. */
interface QueueRow {
  lease_token: string | null;
  leased_until: number;
  deliveries: number;
  last_error: string | null;
}

describe('the SQLite queue fences every settlement with the lease token', () => {
  const rowOf = (): QueueRow | undefined => db.prepare('SELECT lease_token, leased_until, deliveries, last_error FROM queue_batches').get() as QueueRow | undefined;
  const deadLetters = () => db.prepare('SELECT count(*) FROM queue_dead_letters').pluck().get() as number;

  /**
   * Consumer A claims the batch and is held; then its lease is taken over, as if A stalled past the
   * lease and another consumer claimed the batch (token 'taken-over', leased for a minute).
   */
  async function takenOverWhileHeld(leaseMs: number) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-fence-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const queue = new SqliteBatchQueue(db, { pollMs: 10, leaseMs, retry: { backoffMs: () => 10 } });
    await queue.publish([batch(0)]);
    let release!: (verdict: 'ack' | 'dead-letter' | 'throw' | 'hang') => void;
    const held = new Promise<'ack' | 'dead-letter' | 'throw' | 'hang'>((resolve) => (release = resolve));
    let settled = 0;
    let claimed = false;
    sub = await queue.consume(async () => {
      claimed = true;
      const verdict = await held;
      if (verdict === 'throw') throw new Error('transient');
      if (verdict === 'hang') await new Promise(() => {});
      return verdict as 'ack' | 'dead-letter';
    }, { concurrency: 1, afterSettled: () => settled++ });
    await waitFor(() => claimed, 5_000, 'consumer A holding the batch');
    const takenOver = { lease_token: 'taken-over', leased_until: Date.now() + 60_000 };
    db.prepare('UPDATE queue_batches SET lease_token = :lease_token, leased_until = :leased_until').run(takenOver);
    return { release, settled: () => settled, expected: { ...takenOver, deliveries: 1, last_error: null } satisfies QueueRow };
  }

  it.each([
    ['ack', 'an ack that would delete it'],
    ['throw', 'a hand-back for a retry'],
    ['dead-letter', 'a move to the dead letters'],
  ] as const)('ignores %s (%s) from a consumer whose lease was taken over', async (verdict, _meaning) => {
    const a = await takenOverWhileHeld(60_000);
    a.release(verdict);
    await waitFor(() => a.settled() === 1, 5_000, 'consumer A settling');
    expect(rowOf()).toEqual(a.expected);
    expect(deadLetters()).toBe(0);
  });

  it('ignores the lease renewals of a consumer whose lease was taken over', async () => {
    const a = await takenOverWhileHeld(150); // A renews every 50 ms
    await letOtherWorkRun(300);
    expect(rowOf()).toEqual(a.expected);
    a.release('ack');
  });

  it('ignores the shutdown hand-back of a consumer whose lease was taken over', async () => {
    const a = await takenOverWhileHeld(60_000);
    a.release('hang');
    await sub!.stop({ timeoutMs: 20 });
    sub = undefined;
    expect(rowOf()).toEqual(a.expected);
  });

  it('lets a second consumer run a batch whose first consumer stalled past its lease, and ignores the first one\'s late ack', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-fence-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const other = openDatabase(path.join(dir, 'q.db')); // another thread's connection
    try {
      const first = new SqliteBatchQueue(db, { pollMs: 10, retry: { backoffMs: () => 10 } });
      const second = new SqliteBatchQueue(other, { pollMs: 10, retry: { backoffMs: () => 10 } });
      await first.publish([batch(0)]);
      const gates: (() => void)[] = [];
      const seen: { who: string; attempt: number }[] = [];
      const holding = (who: string) => async (_b: BatchMessage, d: { attempt: number }) => {
        seen.push({ who, attempt: d.attempt });
        await new Promise<void>((resolve) => gates.push(resolve));
        return 'ack' as const;
      };
      let firstSettled = 0;
      sub = await first.consume(holding('first'), { concurrency: 1, afterSettled: () => firstSettled++ });
      await waitFor(() => seen.length === 1, 5_000, 'the first consumer holding the batch');
      db.prepare('UPDATE queue_batches SET leased_until = 0').run(); // its lease ran out (a stall)
      const secondSub = await second.consume(holding('second'), { concurrency: 1 });
      try {
        await waitFor(() => seen.length === 2, 5_000, 'the second consumer claiming the batch');
        const secondToken = rowOf()!.lease_token;
        gates[0]!(); // the first consumer finishes late and acks
        await waitFor(() => firstSettled === 1, 5_000, 'the first consumer settling');
        expect(rowOf()).toMatchObject({ lease_token: secondToken, deliveries: 2 });
        gates[1]!();
        await waitFor(() => rowOf() === undefined, 5_000, 'the second consumer acking');
        expect(seen).toEqual([{ who: 'first', attempt: 1 }, { who: 'second', attempt: 2 }]);
      } finally {
        for (const open of gates) open();
        await secondSub.stop();
      }
    } finally {
      other.close();
    }
  });
});

describe('stopping the SQLite queue with a timeout', () => {
  it('hands a batch whose consumer hangs back for redelivery at once, and never settles the abandoned call', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-stop-'));
    db = openDatabase(path.join(dir, 'q.db'));
    const queue = new SqliteBatchQueue(db, { pollMs: 10, retry: { backoffMs: () => 60_000 } });
    await queue.publish([batch(0)]);
    let finish!: () => void;
    const hung = new Promise<void>((resolve) => (finish = resolve));
    let calls = 0;
    const stopping = await queue.consume(async () => {
      calls++;
      await hung;
      return 'ack';
    }, { concurrency: 1 });
    await waitFor(() => calls === 1, 5_000, 'the consumer running');
    await stopping.stop({ timeoutMs: 50 });

    const row = db.prepare('SELECT lease_token, leased_until, deliveries, last_error FROM queue_batches').get() as QueueRow;
    expect(row).toMatchObject({ lease_token: null, deliveries: 1, last_error: 'handed back at shutdown: still running after 50 ms' });
    expect(row.leased_until).toBeLessThanOrEqual(Date.now());
    expect((await queue.depth()).ready).toBe(1);
    finish(); // the abandoned call resolves 'ack' late: ignored
    await letOtherWorkRun();
    expect((await queue.depth()).ready).toBe(1);

    const attempts: number[] = [];
    sub = await queue.consume(async (_b, d) => {
      attempts.push(d.attempt);
      return 'ack';
    }, { concurrency: 1 });
    await waitFor(async () => (await queue.depth()).ready === 0 && attempts.length === 1, 5_000, 'the batch delivered again and acked');
    expect(attempts).toEqual([2]);
  });
});
