import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { spreadConcurrency, startWorkerPool } from '../../src/processing/workerPool';
import type { Subscription } from '../../src/queue/batchQueue';
import { waitFor } from '../support/waitFor';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

let t: TestPlatform;
let pool: Subscription | undefined;
afterEach(async () => {
  await pool?.stop();
  pool = undefined;
  await t?.close();
});

describe('spreadConcurrency', () => {
  it.each([
    [3, 2, [2, 1]],
    [2, 2, [1, 1]],
    [1, 4, [1]],
    [7, 3, [3, 2, 2]],
  ])('spreads %i batches over %i threads as %j', (concurrency, threads, expected) => {
    expect(spreadConcurrency(concurrency, threads)).toEqual(expected);
  });
});

describe('worker thread pool', () => {
  it('processes batches in threads with their own connections to the same file', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '100', WORKER_THREADS: '2', WORKER_CONCURRENCY: '2' });
    const ids = Array.from({ length: 1000 }, (_, i) => `c${i}`);
    await t.platform.entityStore.insertMany('contact', 'acme', ids.map((id) => ({ id, data: { email: `${id}@x.io`, status: 'lead' } })), Date.now());
    pool = await startWorkerPool(t.platform.config, pino({ level: 'silent' }), t.platform.writeLockBuffer!);

    const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions/contact', payload: { accountId: 'acme', entityIds: [...ids, 'nope'], fieldsToUpdate: { status: 'customer' } } });
    const action = await waitForAction(t.platform, res.json().id);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 1001, succeeded: 1000, failed: 1, skipped: 0 });
    expect((await t.platform.entityStore.get('contact', 'acme', 'c999'))?.data.status).toBe('customer');
    // The last batch is acknowledged just after it completed the action.
    await waitFor(async () => (await t.platform.queue.depth()).unacked === 0, 5_000, 'the last batch acknowledged');
    expect(await t.platform.queue.depth()).toEqual({ ready: 0, unacked: 0, delayed: 0, deadLettered: 0 });
  });

  it('stops its threads and lets no batch be taken after stop', async () => {
    t = await makeTestPlatform({ WORKER_THREADS: '1' });
    pool = await startWorkerPool(t.platform.config, pino({ level: 'silent' }), t.platform.writeLockBuffer!);
    await pool.stop();
    pool = undefined;
    await t.platform.entityStore.insertMany('contact', 'acme', [{ id: 'c1', data: { status: 'lead' } }], Date.now());
    const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions/contact', payload: { accountId: 'acme', entityIds: ['c1'], fieldsToUpdate: { status: 'customer' } } });
    expect(res.statusCode).toBe(202);
    // Several poll intervals (50 ms) pass: a thread still alive would have claimed the batch.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await t.platform.queue.depth()).ready).toBe(1);
    expect((await t.platform.jobStore.getAction(res.json().id))?.status).toBe('PENDING');
  });
});
