import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startWorkerPool } from '../../src/processing/workerPool';
import type { Subscription } from '../../src/queue/batchQueue';
import { parsePrometheusText, sumOf, valueOf, type Sample } from '../support/prometheusText';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';
import { waitFor } from '../support/waitFor';

/** Embedded mode processes in worker threads: their counters must appear on the main thread's /metrics, summed. */

let t: TestPlatform;
let pool: Subscription | undefined;
afterEach(async () => {
  await pool?.stop();
  pool = undefined;
  await t?.close();
});

async function scrape(): Promise<Sample[]> {
  const res = await t.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode, res.body).toBe(200);
  return parsePrometheusText(res.body);
}

describe('metrics of worker threads', () => {
  it('sums the outcomes and batch timings of every thread into the main thread\'s /metrics, with its own process metrics once', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '100', WORKER_THREADS: '2', WORKER_CONCURRENCY: '2' });
    const ids = Array.from({ length: 1000 }, (_, i) => `c${i}`);
    await t.platform.entityStore.insertMany('contact', 'acme', ids.map((id) => ({ id, data: { status: 'lead' } })), Date.now());
    pool = await startWorkerPool(t.platform.config, pino({ level: 'silent' }), t.platform.writeLockBuffer!, t.platform.metrics);

    const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions/contact', payload: { accountId: 'acme', entityIds: [...ids, 'nope'], fieldsToUpdate: { status: 'customer' } } });
    expect(res.statusCode).toBe(202);
    await waitForAction(t.platform, res.json().id);

    // The last batch is reported just after it completed the action.
    let m: Sample[] = [];
    await waitFor(async () => sumOf((m = await scrape()), 'bulk_batch_processing_seconds_count') === 11, 5_000, '11 batches on /metrics');
    const contact = { entity_type: 'contact' };
    expect(valueOf(m, 'bulk_entities_processed_total', { ...contact, status: 'SUCCESS', code: '' })).toBe(1000);
    expect(valueOf(m, 'bulk_entities_processed_total', { ...contact, status: 'FAILED', code: 'NOT_FOUND' })).toBe(1);
    expect(valueOf(m, 'bulk_batch_processing_seconds_count', { ...contact, result: 'ack' })).toBe(11);
    expect(valueOf(m, 'bulk_entity_processing_seconds_count', contact)).toBe(11);
    expect(valueOf(m, 'bulk_actions', { status: 'COMPLETED' })).toBe(1);
    // Only the main thread reports process metrics: one sample, not one per thread.
    expect(m.filter((s) => s.name === 'process_resident_memory_bytes')).toHaveLength(1);
    expect(valueOf(m, 'bulk_metrics_scrape_failures_total', { source: 'worker_thread' })).toBeUndefined();
  });

  it('keeps the counts of threads that stopped: the sums never go down', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '10', WORKER_THREADS: '1', WORKER_CONCURRENCY: '1' });
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`);
    await t.platform.entityStore.insertMany('contact', 'acme', ids.map((id) => ({ id, data: { status: 'lead' } })), Date.now());
    pool = await startWorkerPool(t.platform.config, pino({ level: 'silent' }), t.platform.writeLockBuffer!, t.platform.metrics);
    const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions/contact', payload: { accountId: 'acme', entityIds: ids, fieldsToUpdate: { status: 'customer' } } });
    await waitForAction(t.platform, res.json().id);
    await waitFor(async () => sumOf(await scrape(), 'bulk_entities_processed_total') === 20, 5_000, '20 outcomes on /metrics');

    await pool.stop();
    pool = undefined;
    expect(sumOf(await scrape(), 'bulk_entities_processed_total')).toBe(20);
  });
});
