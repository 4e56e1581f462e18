import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createBody,
  createdId,
  expectApiError,
  expectIsoString,
  getJson,
  seed,
  type Json,
} from '../support/apiHelpers';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/** The GET endpoints of actions (one, the list, stats and logs) and of entities. test/api/routes.test.ts has health and unknown routes. */

let t: TestPlatform;
beforeEach(async () => {
  t = await makeTestPlatform();
});
afterEach(async () => t.close());

const get = (url: string) => t.app.inject({ method: 'GET', url });

async function ids(url: string): Promise<string[]> {
  const { status, body } = await getJson(t.app, url);
  expect(status).toBe(200);
  return (body.items as Json[]).map((item) => item.id as string);
}

describe('GET /api/bulk-actions/:id', () => {
  it('returns the action in the documented shape', async () => {
    const id = await createdId(t.app, createBody({ entityIds: ['c1', 'c2', 'c1'], fieldsToUpdate: { status: 'customer', tags: ['vip'] } }));
    const { status, body } = await getJson(t.app, `/api/bulk-actions/${id}`);
    expect(status).toBe(200);
    expectIsoString(body.createdAt);
    expect(body).toEqual({
      id,
      accountId: 'acme',
      entityType: 'contact',
      status: 'PENDING',
      fieldsToUpdate: { status: 'customer', tags: ['vip'] },
      totalEntities: 3,
      createdAt: body.createdAt,
      scheduledAt: null,
      startedAt: null,
      completedAt: null,
      // Nothing is processed before a worker takes the batches, repeats included.
      progress: { processed: 0, succeeded: 0, failed: 0, skipped: 0 },
    });
  });

  it('shows start and completion times as ISO strings once processed', async () => {
    await seed(t, 'contact', 'acme', { c1: { email: 'a@x.io', status: 'lead' } });
    const id = await createdId(t.app, createBody({ entityIds: ['c1', 'c9'] }));
    await t.startWorkers();
    await waitForAction(t.platform, id);
    const { body } = await getJson(t.app, `/api/bulk-actions/${id}`);
    expect(body.status).toBe('COMPLETED');
    expectIsoString(body.startedAt);
    expectIsoString(body.completedAt);
    expect(Date.parse(body.completedAt as string)).toBeGreaterThanOrEqual(Date.parse(body.startedAt as string));
    expect(Date.parse(body.startedAt as string)).toBeGreaterThanOrEqual(Date.parse(body.createdAt as string));
    expect(body.progress).toEqual({ processed: 2, succeeded: 1, failed: 1, skipped: 0 });
  });

  it('404 ACTION_NOT_FOUND for an unknown id', async () => {
    const details = expectApiError(await get('/api/bulk-actions/no-such-action'), 404, 'ACTION_NOT_FOUND', null);
    expect(details.actionId).toBe('no-such-action');
  });

  it('404 ACTION_NOT_FOUND in the envelope for an over-long id', async () => {
    expectApiError(await get(`/api/bulk-actions/${'a'.repeat(300)}`), 404, 'ACTION_NOT_FOUND', null);
  });
});

describe('GET /api/bulk-actions', () => {
  it('lists newest first with default paging', async () => {
    const a = await createdId(t.app, createBody({ entityIds: ['a'] }));
    const b = await createdId(t.app, createBody({ entityIds: ['b'] }));
    const c = await createdId(t.app, createBody({ entityIds: ['c'] }));
    const { status, body } = await getJson(t.app, '/api/bulk-actions');
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(['items', 'limit', 'page', 'total']);
    expect(body.page).toBe(1);
    expect(body.limit).toBe(50);
    expect(body.total).toBe(3);
    expect((body.items as Json[]).map((item) => item.id)).toEqual([c, b, a]);
    // Items are the same views as GET /:id.
    expect((body.items as Json[])[0]).toEqual((await getJson(t.app, `/api/bulk-actions/${c}`)).body);
  });

  it('pages with page (from 1) and limit', async () => {
    const created: string[] = [];
    for (const id of ['a', 'b', 'c', 'd', 'e']) created.push(await createdId(t.app, createBody({ entityIds: [id] })));
    const newestFirst = [...created].reverse();
    for (const [page, expected] of [[1, newestFirst.slice(0, 2)], [2, newestFirst.slice(2, 4)], [3, newestFirst.slice(4)], [4, []]] as const) {
      const { body } = await getJson(t.app, `/api/bulk-actions?page=${page}&limit=2`);
      expect(body.page).toBe(page);
      expect(body.limit).toBe(2);
      expect(body.total).toBe(5);
      expect((body.items as Json[]).map((item) => item.id)).toEqual(expected);
    }
  });

  it('accepts limit=1000', async () => {
    const { status, body } = await getJson(t.app, '/api/bulk-actions?limit=1000');
    expect(status).toBe(200);
    expect(body).toEqual({ items: [], page: 1, limit: 1000, total: 0 });
  });

  it('filters by accountId, status and entityType, alone and together', async () => {
    await seed(t, 'contact', 'acme', { c1: { email: 'a@x.io', status: 'lead' } });
    const failed = await createdId(t.app, createBody({ entityIds: ['missing'] }));
    const completed = await createdId(t.app, createBody({ entityIds: ['c1'] }));
    const workers = await t.startWorkers();
    expect((await waitForAction(t.platform, failed)).status).toBe('FAILED');
    expect((await waitForAction(t.platform, completed)).status).toBe('COMPLETED');
    await workers.stop();
    const pendingLead = await createdId(t.app, createBody({ entityType: 'lead', entityIds: ['l1'], fieldsToUpdate: { status: 'new' } }));
    const pendingGlobex = await createdId(t.app, createBody({ accountId: 'globex', entityIds: ['g1'] }));

    expect(await ids('/api/bulk-actions')).toEqual([pendingGlobex, pendingLead, completed, failed]);
    expect(await ids('/api/bulk-actions?accountId=acme')).toEqual([pendingLead, completed, failed]);
    expect(await ids('/api/bulk-actions?accountId=globex')).toEqual([pendingGlobex]);
    expect(await ids('/api/bulk-actions?accountId=nobody')).toEqual([]);
    expect(await ids('/api/bulk-actions?status=PENDING')).toEqual([pendingGlobex, pendingLead]);
    expect(await ids('/api/bulk-actions?status=COMPLETED')).toEqual([completed]);
    expect(await ids('/api/bulk-actions?status=FAILED')).toEqual([failed]);
    expect(await ids('/api/bulk-actions?status=RUNNING')).toEqual([]);
    expect(await ids('/api/bulk-actions?entityType=contact')).toEqual([pendingGlobex, completed, failed]);
    expect(await ids('/api/bulk-actions?entityType=lead')).toEqual([pendingLead]);
    expect(await ids('/api/bulk-actions?accountId=acme&entityType=contact&status=COMPLETED')).toEqual([completed]);
    expect(await ids('/api/bulk-actions?accountId=globex&status=COMPLETED')).toEqual([]);
    const { body } = await getJson(t.app, '/api/bulk-actions?accountId=acme&entityType=contact');
    expect(body.total).toBe(2);
  });

  it.each([
    ['page=0', 'page'],
    ['page=-1', 'page'],
    ['page=abc', 'page'],
    ['page=1.5', 'page'],
    ['page=1&page=2', 'page'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['limit=2e2', 'limit'],
    ['status=DONE', 'status'],
    ['status=pending', 'status'],
    ['status=PENDING&status=FAILED', 'status'],
    ['accountId=acme&accountId=globex', 'accountId'],
    ['entityType=contact&entityType=lead', 'entityType'],
  ])('400 INVALID_QUERY for ?%s', async (query, field) => {
    expectApiError(await get(`/api/bulk-actions?${query}`), 400, 'INVALID_QUERY', field);
  });
});

describe('GET /api/bulk-actions/:id/stats', () => {
  it('counts every submitted ID, repeats included, as pending before processing', async () => {
    const id = await createdId(t.app, createBody({ entityIds: ['c1', 'c2', 'c1'] }));
    const { status, body } = await getJson(t.app, `/api/bulk-actions/${id}/stats`);
    expect(status).toBe(200);
    expect(body).toEqual({
      actionId: id,
      status: 'PENDING',
      total: 3,
      processed: 0,
      succeeded: 0,
      failed: 0,
      skipped: 0,
      pending: 3,
      progress: 0,
      durationMs: null,
      entitiesPerSecond: 0,
      errorsByCode: {},
    });
  });

  it('reports a finished action', async () => {
    await seed(t, 'contact', 'acme', { c1: { email: 'a@x.io', status: 'lead' }, c2: { email: 'b@x.io', status: 'lead' } });
    const id = await createdId(t.app, createBody({ entityIds: ['c1', 'c2', 'c9', 'c1'] }));
    await t.startWorkers();
    await waitForAction(t.platform, id);
    const action = (await getJson(t.app, `/api/bulk-actions/${id}`)).body;
    const { status, body } = await getJson(t.app, `/api/bulk-actions/${id}/stats`);
    expect(status).toBe(200);
    // Processing time: at most the wall-clock time from the first batch's start to completion.
    const { durationMs } = body as { durationMs: number };
    expect(durationMs).toBeGreaterThanOrEqual(0);
    expect(durationMs).toBeLessThanOrEqual(Date.parse(action.completedAt as string) - Date.parse(action.startedAt as string) + 50);
    expect(body).toEqual({
      actionId: id,
      status: 'COMPLETED',
      total: 4,
      processed: 4,
      succeeded: 2,
      failed: 1,
      skipped: 1,
      pending: 0,
      progress: 100,
      durationMs,
      // The DUPLICATE_ID repeat is not work done: 3 entities per durationMs.
      entitiesPerSecond: durationMs === 0 ? 0 : Math.round((3 / durationMs) * 1000),
      errorsByCode: { DUPLICATE_ID: 1, NOT_FOUND: 1 },
    });
  });

  it('404 ACTION_NOT_FOUND for an unknown id', async () => {
    expectApiError(await get('/api/bulk-actions/no-such-action/stats'), 404, 'ACTION_NOT_FOUND', null);
  });
});

describe('GET /api/bulk-actions/:id/logs', () => {
  async function finishedAction(): Promise<string> {
    await seed(t, 'contact', 'acme', {
      c1: { email: 'c1@x.io', status: 'lead' },
      c2: { email: 'c2@x.io', status: 'churned' },
      c3: { email: 'c3@x.io', status: 'lead' },
    });
    const id = await createdId(t.app, createBody({ entityIds: ['c3', 'c9', 'c1', 'c3', 'c2'], fieldsToUpdate: { status: 'lead' } }));
    await t.startWorkers();
    await waitForAction(t.platform, id);
    return id;
  }

  it('has one row per submitted ID, successes included, in request order', async () => {
    const id = await finishedAction();
    const { status, body } = await getJson(t.app, `/api/bulk-actions/${id}/logs`);
    expect(status).toBe(200);
    expect(body.page).toBe(1);
    expect(body.limit).toBe(100);
    expect(body.total).toBe(5);
    const items = body.items as Json[];
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(['code', 'entityId', 'message', 'processedAt', 'status']);
      expectIsoString(item.processedAt);
    }
    expect(items.map(({ entityId, status: s, code }) => [entityId, s, code])).toEqual([
      ['c3', 'SUCCESS', null],
      ['c9', 'FAILED', 'NOT_FOUND'],
      ['c1', 'SUCCESS', null],
      ['c3', 'SKIPPED', 'DUPLICATE_ID'],
      ['c2', 'FAILED', 'VALIDATION_FAILED'],
    ]);
    expect(items[0]?.message).toBe(null);
    for (const i of [1, 3, 4]) expect(typeof items[i]?.message).toBe('string');
  });

  it('filters by status', async () => {
    const id = await finishedAction();
    const byStatus = async (s: string) => {
      const { status, body } = await getJson(t.app, `/api/bulk-actions/${id}/logs?status=${s}`);
      expect(status).toBe(200);
      return { total: body.total, rows: (body.items as Json[]).map((item) => [item.entityId, item.status]) };
    };
    expect(await byStatus('SUCCESS')).toEqual({ total: 2, rows: [['c3', 'SUCCESS'], ['c1', 'SUCCESS']] });
    expect(await byStatus('FAILED')).toEqual({ total: 2, rows: [['c9', 'FAILED'], ['c2', 'FAILED']] });
    expect(await byStatus('SKIPPED')).toEqual({ total: 1, rows: [['c3', 'SKIPPED']] });
  });

  it('pages with page and limit', async () => {
    const id = await finishedAction();
    const pages: unknown[][] = [];
    for (const page of [1, 2, 3, 4]) {
      const { body } = await getJson(t.app, `/api/bulk-actions/${id}/logs?page=${page}&limit=2`);
      expect(body.page).toBe(page);
      expect(body.limit).toBe(2);
      expect(body.total).toBe(5);
      pages.push((body.items as Json[]).map((item) => item.entityId));
    }
    expect(pages).toEqual([['c3', 'c9'], ['c1', 'c3'], ['c2'], []]);
    const { body } = await getJson(t.app, `/api/bulk-actions/${id}/logs?status=FAILED&page=2&limit=1`);
    expect([body.page, body.limit, body.total]).toEqual([2, 1, 2]);
    expect((body.items as Json[]).map((item) => item.entityId)).toEqual(['c2']);
  });

  it.each([
    ['status=DONE', 'status'],
    ['status=success', 'status'],
    ['status=SUCCESS&status=FAILED', 'status'],
    ['page=0', 'page'],
    ['page=x', 'page'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
  ])('400 INVALID_QUERY for ?%s', async (query, field) => {
    const id = await createdId(t.app, createBody());
    expectApiError(await get(`/api/bulk-actions/${id}/logs?${query}`), 400, 'INVALID_QUERY', field);
  });

  it('404 ACTION_NOT_FOUND for an unknown id', async () => {
    expectApiError(await get('/api/bulk-actions/no-such-action/logs'), 404, 'ACTION_NOT_FOUND', null);
  });
});

describe('GET /api/entities/:entityType/:id', () => {
  const createdAt = Date.UTC(2030, 0, 1);

  beforeEach(async () => {
    await t.platform.entityStore.insertMany('contact', 'acme', [{ id: 'c1', data: { email: 'a@x.io', status: 'lead', tags: ['x'] } }], createdAt);
    await t.platform.entityStore.insertMany('product', 'globex', [{ id: 'p1', data: { name: 'Widget', price: 5 } }], createdAt);
  });

  it('returns the entity scoped to its account', async () => {
    const { status, body } = await getJson(t.app, '/api/entities/contact/c1?accountId=acme');
    expect(status).toBe(200);
    expect(body).toEqual({
      id: 'c1',
      entityType: 'contact',
      accountId: 'acme',
      email: 'a@x.io',
      status: 'lead',
      tags: ['x'],
      createdAt: '2030-01-01T00:00:00.000Z',
      updatedAt: '2030-01-01T00:00:00.000Z',
    });
    expect((await getJson(t.app, '/api/entities/product/p1?accountId=globex')).body.name).toBe('Widget');
  });

  it('reads an entity whose ID has the longest length that create accepts (256)', async () => {
    const longId = 'e'.repeat(256);
    await seed(t, 'contact', 'acme', { [longId]: { email: 'long@x.io' } });
    const created = await t.app.inject({
      method: 'POST',
      url: '/api/bulk-actions/contact',
      payload: { accountId: 'acme', entityIds: [longId], fieldsToUpdate: { status: 'lead' } },
    });
    expect(created.statusCode).toBe(202);
    const res = await get(`/api/entities/contact/${longId}?accountId=acme`);
    expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    expect(res.json().id).toBe(longId);
  });

  it.each([
    { name: "another account's entity", url: '/api/entities/contact/c1?accountId=globex' },
    { name: 'a missing entity', url: '/api/entities/contact/c2?accountId=acme' },
    { name: 'an entity of another type with that id', url: '/api/entities/lead/c1?accountId=acme' },
  ])('404 ENTITY_NOT_FOUND for $name', async ({ url }) => {
    expectApiError(await get(url), 404, 'ENTITY_NOT_FOUND', null);
  });

  it.each([
    { name: 'no accountId', url: '/api/entities/contact/c1', code: 'MISSING_FIELD', field: 'accountId' },
    { name: 'an empty accountId', url: '/api/entities/contact/c1?accountId=', code: 'MISSING_FIELD', field: 'accountId' },
    { name: 'an unknown type', url: '/api/entities/widget/c1?accountId=acme', code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
    { name: 'a prototype key as type', url: '/api/entities/constructor/c1?accountId=acme', code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
    { name: 'accountId given twice', url: '/api/entities/contact/c1?accountId=acme&accountId=globex', code: 'INVALID_QUERY', field: 'accountId' },
  ] as const)('400 $code for $name', async ({ url, code, field }) => {
    expectApiError(await get(url), 400, code, field);
  });
});
