import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchMessage } from '../../src/types/entities';
import { createAction, createBody, createdId, seed } from '../support/apiHelpers';
import { parsePrometheusText, sumOf, valueOf, type Sample } from '../support/prometheusText';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/** GET /metrics of an embedded platform whose workers run in-process (worker threads: test/integration/workerThreadMetrics.test.ts). */

let t: TestPlatform;
beforeEach(async () => {
  t = await makeTestPlatform({ BATCH_SIZE: '2' });
  await seed(t, 'contact', 'acme', { c1: { status: 'lead' }, c2: { status: 'lead' }, c3: { status: 'lead' } });
});
afterEach(async () => t.close());

async function scrape(): Promise<Sample[]> {
  const res = await t.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(res.body);
}

describe('GET /metrics', () => {
  it('counts entities by type, status and code, times entities and batches, and counts a retried delivery once as a retry', async () => {
    let failedOnce = false;
    await t.startWorkers({
      faults: {
        // The first delivery of batch 0 records its outcomes, then its worker fails: the batch is handed back.
        afterOutcomesRecorded: (batch: BatchMessage) => {
          if (batch.batchNo === 0 && !failedOnce) {
            failedOnce = true;
            throw new Error('worker died late');
          }
        },
      },
    });
    // Unique IDs in two batches of 2, then the repeat of c1 in a batch of its own.
    const id = await createdId(t.app, createBody({ entityIds: ['c1', 'c2', 'c3', 'nope', 'c1'] }));
    expect((await waitForAction(t.platform, id)).progress).toEqual({ processed: 5, succeeded: 3, failed: 1, skipped: 1 });

    const m = await scrape();
    const contact = { entity_type: 'contact' };
    // Each outcome once, although batch 0 was delivered twice.
    expect(valueOf(m, 'bulk_entities_processed_total', { ...contact, status: 'SUCCESS', code: '' })).toBe(3);
    expect(valueOf(m, 'bulk_entities_processed_total', { ...contact, status: 'FAILED', code: 'NOT_FOUND' })).toBe(1);
    expect(valueOf(m, 'bulk_entities_processed_total', { ...contact, status: 'SKIPPED', code: 'DUPLICATE_ID' })).toBe(1);
    expect(sumOf(m, 'bulk_entities_processed_total')).toBe(5);
    // Deliveries: 3 acked, 1 handed back; the per-entity time is observed once per delivery that recorded outcomes.
    expect(valueOf(m, 'bulk_batch_processing_seconds_count', { ...contact, result: 'ack' })).toBe(3);
    expect(valueOf(m, 'bulk_batch_processing_seconds_count', { ...contact, result: 'retry' })).toBe(1);
    expect(valueOf(m, 'bulk_entity_processing_seconds_count', contact)).toBe(3);
    expect(valueOf(m, 'bulk_batch_processing_seconds_bucket', { ...contact, result: 'ack', le: '+Inf' })).toBe(3);
  });

  it('reads the actions by status and the queue depth at scrape time', async () => {
    await createdId(t.app, createBody({ entityIds: ['c1', 'c2', 'c3'] })); // 2 batches, no worker yet
    let m = await scrape();
    expect(valueOf(m, 'bulk_actions', { status: 'PENDING' })).toBe(1);
    expect(valueOf(m, 'bulk_actions', { status: 'COMPLETED' })).toBe(0);
    expect(valueOf(m, 'bulk_queue_batches', { state: 'ready' })).toBe(2);
    expect(valueOf(m, 'bulk_queue_batches', { state: 'dead_lettered' })).toBe(0);

    await t.startWorkers();
    const [action] = (await t.platform.jobStore.listActions({}, 0, 1)).items;
    await waitForAction(t.platform, action!.id);
    m = await scrape();
    expect(valueOf(m, 'bulk_actions', { status: 'PENDING' })).toBe(0);
    expect(valueOf(m, 'bulk_actions', { status: 'COMPLETED' })).toBe(1);
  });

  it('counts error responses by code and requests by route pattern, never by the raw URL', async () => {
    expect((await createAction(t.app, createBody({ fieldsToUpdate: {} }))).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/api/bulk-actions/no-such-action' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/api/bulk-actions/another-one/stats' })).statusCode).toBe(404);

    const m = await scrape();
    expect(valueOf(m, 'bulk_api_errors_total', { code: 'EMPTY_UPDATE' })).toBe(1);
    expect(valueOf(m, 'bulk_api_errors_total', { code: 'ACTION_NOT_FOUND' })).toBe(2);
    expect(valueOf(m, 'bulk_http_request_duration_seconds_count', { method: 'GET', route: '/api/bulk-actions/:id', status_code: '404' })).toBe(1);
    expect(valueOf(m, 'bulk_http_request_duration_seconds_count', { method: 'GET', route: '/api/bulk-actions/:id/stats', status_code: '404' })).toBe(1);
    expect(m.some((s) => Object.values(s.labels).some((v) => v.includes('no-such-action')))).toBe(false);
  });

  it('shows the event-loop delay and the process memory', async () => {
    const m = await scrape();
    for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      expect(valueOf(m, name), name).toBeGreaterThanOrEqual(0);
    }
    expect(valueOf(m, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('still answers when the queue cannot be asked: the depth is left out and the failure counted', async () => {
    t.platform.queue.depth = async () => {
      throw new Error('broker unreachable');
    };
    const m = await scrape();
    expect(valueOf(m, 'bulk_queue_batches', { state: 'ready' })).toBeUndefined();
    expect(valueOf(m, 'bulk_metrics_scrape_failures_total', { source: 'queue' })).toBe(1);
    expect(valueOf(m, 'bulk_actions', { status: 'PENDING' })).toBe(0);
  });
});
