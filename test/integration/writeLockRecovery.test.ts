import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { releaseWriteLockOf } from '../../src/adapters/sqlite/writeLock';
import { startWorkerPool } from '../../src/processing/workerPool';
import type { Subscription } from '../../src/queue/batchQueue';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';
import { waitFor } from '../support/waitFor';

/**
 * The shared write lock when a thread dies or hangs holding it (issue 6, defect #5): real threads,
 * a real SQLite file, the real WriteLock (test/support/writeLockThread.mjs plays the threads).
 */
const THREAD = new URL('../support/writeLockThread.mjs', import.meta.url);

let dir: string;
let file: string;
let lockBuffer: SharedArrayBuffer;
let threads: Worker[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'write-lock-'));
  file = path.join(dir, 'lock.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (row TEXT NOT NULL)');
  db.close();
  lockBuffer = new SharedArrayBuffer(4);
  threads = [];
});

afterEach(async () => {
  await Promise.all(threads.map((t) => t.terminate()));
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Started {
  worker: Worker;
  control: Int32Array;
  messages: { type: string; message?: string; holderThreadId?: number }[];
  exited: Promise<number>;
}

/** Starts a test thread; as the worker pool does, its 'exit' releases the write lock if it died holding it. */
function start(role: string, row: string, timeoutMs = 10_000): Started {
  const control = new SharedArrayBuffer(8);
  const worker = new Worker(THREAD, { workerData: { role, file, lockBuffer, control, timeoutMs, row } });
  threads.push(worker);
  const { threadId } = worker;
  const messages: Started['messages'] = [];
  worker.on('message', (m: Started['messages'][number]) => messages.push(m));
  const exited = new Promise<number>((resolve) => {
    worker.once('exit', (code) => {
      releaseWriteLockOf(lockBuffer, threadId);
      resolve(code);
    });
  });
  return { worker, control: new Int32Array(control), messages, exited };
}

const rows = () => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT row FROM t ORDER BY rowid').pluck().all() as string[]);
  } finally {
    db.close();
  }
};

describe('the write lock when its holder thread dies', () => {
  it('is recovered when the holder calls process.exit mid-transaction; its write is rolled back and the waiting writer goes on', async () => {
    const holder = start('die-holding', 'from the dead thread');
    await waitFor(() => Atomics.load(holder.control, 0) === 1, 10_000, 'the holder inside its write');
    const writer = start('writer', 'from the waiting thread');
    await waitFor(() => writer.messages.some((m) => m.type === 'waiting'), 10_000, 'the writer waiting');
    expect(new Int32Array(lockBuffer)[0]).toBe(holder.worker.threadId + 1); // the owner is named

    Atomics.store(holder.control, 1, 1);
    Atomics.notify(holder.control, 1);
    expect(await holder.exited).toBe(7);
    await waitFor(() => writer.messages.some((m) => m.type === 'wrote'), 10_000, 'the waiting writer wrote');
    // SQLite rolled the dead thread's open transaction back when its connection closed with the thread.
    expect(rows()).toEqual(['from the waiting thread']);
    expect(new Int32Array(lockBuffer)[0]).toBe(0);
  });

  it('never makes a writer wait past its timeout on a holder that hangs, and is recovered once that thread is terminated', async () => {
    const holder = start('hang-holding', 'unused');
    await waitFor(() => Atomics.load(holder.control, 0) === 1, 10_000, 'the holder holding');
    const writer = start('writer', 'too early', 300);
    await waitFor(() => writer.messages.some((m) => m.type === 'timeout'), 10_000, 'the writer giving up');
    const timeout = writer.messages.find((m) => m.type === 'timeout')!;
    expect(timeout.holderThreadId).toBe(holder.worker.threadId);
    expect(timeout.message).toMatch(/waited \d+ ms for the SQLite write lock held by thread \d+; the write was not made/);

    await holder.worker.terminate();
    await holder.exited;
    const next = start('writer', 'after the holder ended', 300);
    await waitFor(() => next.messages.some((m) => m.type === 'wrote'), 10_000, 'a write after recovery');
    expect(rows()).toEqual(['after the holder ended']);
  });

  it('is not released on behalf of a thread that does not hold it', () => {
    const state = new Int32Array(lockBuffer);
    Atomics.store(state, 0, 42);
    expect(releaseWriteLockOf(lockBuffer, 40)).toBe(false);
    expect(state[0]).toBe(42);
    expect(releaseWriteLockOf(lockBuffer, 41)).toBe(true);
    expect(state[0]).toBe(0);
  });
});

describe('a worker-pool thread that dies holding the write lock', () => {
  let t: TestPlatform | undefined;
  let pool: Subscription | undefined;
  afterEach(async () => {
    await pool?.stop();
    pool = undefined;
    await t?.close();
    t = undefined;
  });

  it('is replaced, the lock and its batch are recovered, and the action completes with exact counts', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '50', WORKER_THREADS: '2', WORKER_CONCURRENCY: '2' });
    const ids = Array.from({ length: 500 }, (_, i) => `c${i}`);
    await t.platform.entityStore.insertMany('contact', 'acme', ids.map((id) => ({ id, data: { email: `${id}@x.io`, status: 'lead' } })), Date.now());
    // Queued before the pool starts, so the first claim is of a batch.
    const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions/contact', payload: { accountId: 'acme', entityIds: [...ids, 'nope'], fieldsToUpdate: { status: 'customer' } } });
    expect(res.statusCode).toBe(202);

    const lines: { msg: string; code?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) });
    pool = await startWorkerPool(t.platform.config, logger, t.platform.writeLockBuffer!, undefined, { threadEntry: new URL('../support/dyingWorkerThreadEntry.mjs', import.meta.url) });

    // Well inside the queue's 60 s lease: the replacement hands the dead thread's batch back.
    const action = await waitForAction(t.platform, res.json().id, 20_000);
    expect(fs.existsSync(path.join(t.dataDir, 'a-thread-died-holding-the-write-lock'))).toBe(true);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 501, succeeded: 500, failed: 1, skipped: 0 });
    expect((await t.platform.entityStore.get('contact', 'acme', 'c499'))?.data.status).toBe('customer');
    const messages = lines.map((l) => l.msg);
    expect(messages).toContain('worker thread exited holding the SQLite write lock; released it');
    const restarts = lines.filter((l) => l.msg === 'worker thread exited; restarting it');
    expect(restarts.map((l) => l.code)).toEqual([7]);
  });
});
