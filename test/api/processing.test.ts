import { afterEach, describe, expect, it } from 'vitest';
import { allLogs, createBody, createdId, expectIsoString, getJson, postJson, seed, type Json, type LogItem } from '../support/apiHelpers';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/** Per-entity outcome codes, final statuses and counters, observed only through the HTTP API. */

let t: TestPlatform;
afterEach(async () => t.close());

/** Creates through POST /api/bulk-actions/:entityType, waits for a terminal status, and returns the action view. */
async function run(entityType: string, accountId: string, entityIds: string[], fieldsToUpdate: Json): Promise<Json> {
  const res = await postJson(t.app, `/api/bulk-actions/${entityType}`, { accountId, entityIds, fieldsToUpdate });
  expect(res.statusCode, res.body).toBe(202);
  const id = res.json().id as string;
  await waitForAction(t.platform, id);
  const { status, body } = await getJson(t.app, `/api/bulk-actions/${id}`);
  expect(status).toBe(200);
  return body;
}

async function entity(entityType: string, id: string, accountId: string): Promise<Json> {
  const { status, body } = await getJson(t.app, `/api/entities/${entityType}/${id}?accountId=${accountId}`);
  expect(status).toBe(200);
  return body;
}

const rows = (logs: LogItem[]) => logs.map((log) => [log.entityId, log.status, log.code]);

describe('processing outcomes', () => {
  it.each([
    { entityType: 'contact', data: { email: 'a@x.io', status: 'lead' }, fieldsToUpdate: { status: 'customer', tags: ['vip'] } },
    { entityType: 'lead', data: { email: 'a@x.io', status: 'new', score: 10 }, fieldsToUpdate: { status: 'contacted', score: 70 } },
    { entityType: 'account', data: { name: 'Acme', status: 'active' }, fieldsToUpdate: { industry: 'Retail', employees: 12 } },
    { entityType: 'product', data: { name: 'Widget', price: 5, active: false }, fieldsToUpdate: { active: true, currency: 'EUR' } },
  ])('updates a $entityType and logs SUCCESS', async ({ entityType, data, fieldsToUpdate }) => {
    t = await makeTestPlatform({}, { workers: true });
    await seed(t, entityType, 'acme', { x1: data });
    const action = await run(entityType, 'acme', ['x1'], fieldsToUpdate);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 1, succeeded: 1, failed: 0, skipped: 0 });

    const updated = await entity(entityType, 'x1', 'acme');
    expectIsoString(updated.updatedAt);
    expect(updated).toEqual({
      ...data,
      ...fieldsToUpdate,
      id: 'x1',
      entityType,
      accountId: 'acme',
      createdAt: updated.createdAt,
      updatedAt: updated.updatedAt,
    });
    const logs = await allLogs(t.app, action.id as string, 10);
    expect(logs).toEqual([{ entityId: 'x1', status: 'SUCCESS', code: null, message: null, processedAt: logs[0]?.processedAt }]);
    expectIsoString(logs[0]?.processedAt);
  });

  it("fails missing and other-account entities alike with NOT_FOUND, and leaves the other account's entity alone", async () => {
    t = await makeTestPlatform({}, { workers: true });
    await seed(t, 'contact', 'acme', { c1: { email: 'a@x.io', status: 'lead' } });
    await seed(t, 'contact', 'globex', { g1: { email: 'g@x.io', status: 'lead' } });
    const action = await run('contact', 'acme', ['c1', 'g1', 'nope'], { status: 'customer' });
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 3, succeeded: 1, failed: 2, skipped: 0 });

    const logs = await allLogs(t.app, action.id as string, 10);
    expect(rows(logs)).toEqual([
      ['c1', 'SUCCESS', null],
      ['g1', 'FAILED', 'NOT_FOUND'],
      ['nope', 'FAILED', 'NOT_FOUND'],
    ]);
    const otherAccount = logs[1]?.message as string;
    const missing = logs[2]?.message as string;
    expect(typeof otherAccount).toBe('string');
    expect(otherAccount.replace('g1', '<id>')).toBe(missing.replace('nope', '<id>'));
    expect((await entity('contact', 'g1', 'globex')).status).toBe('lead');
  });

  it.each<{ name: string; seeded: Record<string, Json>; ids: string[]; progress: Json }>([
    { name: 'every entity is missing', seeded: {}, ids: ['n1', 'n2', 'n1'], progress: { processed: 3, succeeded: 0, failed: 2, skipped: 1 } },
    {
      name: 'every entity breaks a rule',
      seeded: { c1: { email: 'a@x.io', status: 'churned' }, c2: { email: 'b@x.io', status: 'churned' } },
      ids: ['c1', 'c2'],
      progress: { processed: 2, succeeded: 0, failed: 2, skipped: 0 },
    },
    {
      name: 'some are missing and the rest break a rule',
      seeded: { c1: { email: 'a@x.io', status: 'churned' } },
      ids: ['c1', 'n1'],
      progress: { processed: 2, succeeded: 0, failed: 2, skipped: 0 },
    },
  ])('ends FAILED when $name', async ({ seeded, ids, progress }) => {
    t = await makeTestPlatform({}, { workers: true });
    await seed(t, 'contact', 'acme', seeded);
    const action = await run('contact', 'acme', ids, { status: 'lead' });
    expect(action.status).toBe('FAILED');
    expect(action.progress).toEqual(progress);
    expectIsoString(action.completedAt);
    const stats = (await getJson(t.app, `/api/bulk-actions/${action.id as string}/stats`)).body;
    expect(stats.status).toBe('FAILED');
    expect(stats.pending).toBe(0);
  });

  it.each([
    { entityType: 'contact', update: { status: 'customer' } },
    { entityType: 'lead', update: { status: 'contacted' } },
  ])('updates the first $entityType of an email and skips the rest with DUPLICATE_EMAIL', async ({ entityType, update }) => {
    t = await makeTestPlatform({}, { workers: true });
    const before = entityType === 'contact' ? 'lead' : 'new';
    await seed(t, entityType, 'acme', {
      x1: { email: 'Shared@X.io', status: before },
      x2: { email: 'shared@x.io ', status: before },
      x3: { email: 'other@x.io', status: before },
      x4: { email: 'shared@x.io', status: before },
    });
    const action = await run(entityType, 'acme', ['x2', 'x1', 'x3', 'x4'], update);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 4, succeeded: 2, failed: 0, skipped: 2 });
    expect(rows(await allLogs(t.app, action.id as string, 10))).toEqual([
      ['x2', 'SUCCESS', null],
      ['x1', 'SKIPPED', 'DUPLICATE_EMAIL'],
      ['x3', 'SUCCESS', null],
      ['x4', 'SKIPPED', 'DUPLICATE_EMAIL'],
    ]);
    expect((await entity(entityType, 'x2', 'acme')).status).toBe(update.status);
    expect((await entity(entityType, 'x1', 'acme')).status).toBe(before);
    expect((await entity(entityType, 'x4', 'acme')).status).toBe(before);
    expect((await getJson(t.app, `/api/bulk-actions/${action.id as string}/stats`)).body.errorsByCode).toEqual({ DUPLICATE_EMAIL: 2 });
  });

  it('does not skip an entity whose email is shared only with an entity outside the action', async () => {
    t = await makeTestPlatform({}, { workers: true });
    await seed(t, 'contact', 'acme', { c1: { email: 'same@x.io', status: 'lead' }, c2: { email: 'same@x.io', status: 'lead' } });
    await seed(t, 'contact', 'globex', { g1: { email: 'same@x.io', status: 'lead' } });
    const action = await run('contact', 'acme', ['c1'], { status: 'customer' });
    expect(rows(await allLogs(t.app, action.id as string, 10))).toEqual([['c1', 'SUCCESS', null]]);
    const second = await run('contact', 'globex', ['g1'], { status: 'customer' });
    expect(rows(await allLogs(t.app, second.id as string, 10))).toEqual([['g1', 'SUCCESS', null]]);
  });

  it.each([
    {
      rule: 'a lead qualified with a score under 50',
      entityType: 'lead',
      seeded: { bad: { email: 'a@x.io', status: 'new', score: 30 }, good: { email: 'b@x.io', status: 'new', score: 80 } },
      update: { status: 'qualified' },
      field: 'status',
    },
    {
      rule: 'a product activated with price 0',
      entityType: 'product',
      seeded: { bad: { name: 'Free', price: 0, active: false }, good: { name: 'Paid', price: 10, active: false } },
      update: { active: true },
      field: 'active',
    },
    {
      rule: 'a churned contact moved back to lead',
      entityType: 'contact',
      seeded: { bad: { email: 'a@x.io', status: 'churned' }, good: { email: 'b@x.io', status: 'prospect' } },
      update: { status: 'lead' },
      field: 'status',
    },
  ])('fails $rule with VALIDATION_FAILED and updates the rest', async ({ entityType, seeded, update, field }) => {
    t = await makeTestPlatform({}, { workers: true });
    await seed(t, entityType, 'acme', seeded);
    const action = await run(entityType, 'acme', ['bad', 'good'], update);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 2, succeeded: 1, failed: 1, skipped: 0 });
    const logs = await allLogs(t.app, action.id as string, 10);
    expect(rows(logs)).toEqual([
      ['bad', 'FAILED', 'VALIDATION_FAILED'],
      ['good', 'SUCCESS', null],
    ]);
    expect(typeof logs[0]?.message).toBe('string');
    const value = (update as Json)[field];
    expect((await entity(entityType, 'bad', 'acme'))[field]).toBe((seeded.bad as Json)[field]);
    expect((await entity(entityType, 'good', 'acme'))[field]).toBe(value);
    expect((await getJson(t.app, `/api/bulk-actions/${action.id as string}/stats`)).body.errorsByCode).toEqual({ VALIDATION_FAILED: 1 });
  });

  it.each([
    { entityType: 'lead', seeded: { email: 'a@x.io', status: 'new', score: 30 }, update: { status: 'qualified', score: 60 } },
    { entityType: 'product', seeded: { name: 'Free', price: 0, active: false }, update: { active: true, price: 3 } },
  ])('accepts a $entityType update that satisfies the rule itself', async ({ entityType, seeded, update }) => {
    t = await makeTestPlatform({}, { workers: true });
    await seed(t, entityType, 'acme', { x1: seeded });
    const action = await run(entityType, 'acme', ['x1'], update);
    expect(action.status).toBe('COMPLETED');
    expect(rows(await allLogs(t.app, action.id as string, 10))).toEqual([['x1', 'SUCCESS', null]]);
  });
});

describe('de-duplication by email across batches', () => {
  it('with one worker and one entity per batch, the first in request order is updated', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '1', WORKER_CONCURRENCY: '1' }, { workers: true });
    await seed(t, 'contact', 'acme', {
      c1: { email: 'same@x.io', status: 'lead' },
      c2: { email: 'same@x.io', status: 'lead' },
      c3: { email: 'same@x.io', status: 'lead' },
    });
    const action = await run('contact', 'acme', ['c3', 'c1', 'c2'], { status: 'customer' });
    expect(rows(await allLogs(t.app, action.id as string, 10))).toEqual([
      ['c3', 'SUCCESS', null],
      ['c1', 'SKIPPED', 'DUPLICATE_EMAIL'],
      ['c2', 'SKIPPED', 'DUPLICATE_EMAIL'],
    ]);
  });

  it('with concurrent batches, exactly one entity of the email is updated', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '1', WORKER_CONCURRENCY: '4' }, { workers: true });
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    await seed(t, 'contact', 'acme', Object.fromEntries(ids.map((id) => [id, { email: 'same@x.io', status: 'lead' }])));
    const action = await run('contact', 'acme', ids, { status: 'customer' });
    expect(action.progress).toEqual({ processed: 6, succeeded: 1, failed: 0, skipped: 5 });
    const logs = await allLogs(t.app, action.id as string, 10);
    expect(logs.map((log) => log.entityId)).toEqual(ids);
    expect(logs.filter((log) => log.status === 'SUCCESS').length).toBe(1);
    expect(logs.filter((log) => log.status === 'SKIPPED' && log.code === 'DUPLICATE_EMAIL').length).toBe(5);
    const customers = [];
    for (const id of ids) if ((await entity('contact', id, 'acme')).status === 'customer') customers.push(id);
    expect(customers).toEqual(logs.filter((log) => log.status === 'SUCCESS').map((log) => log.entityId));
  });
});

describe('stats equal logs', () => {
  it('counters, errorsByCode and every log page agree on a mixed action spread over batches', async () => {
    t = await makeTestPlatform({ BATCH_SIZE: '3' }, { workers: true });
    const plain = ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8'];
    await seed(t, 'contact', 'acme', {
      ...Object.fromEntries(plain.map((id) => [id, { email: `${id}@x.io`, status: 'prospect' }])),
      d1: { email: 'dup@x.io', status: 'prospect' },
      d2: { email: 'dup@x.io', status: 'prospect' },
      d3: { email: 'DUP@x.io', status: 'prospect' },
      ch1: { email: 'ch1@x.io', status: 'churned' },
      ch2: { email: 'ch2@x.io', status: 'churned' },
    });
    await seed(t, 'contact', 'globex', { o1: { email: 'o1@x.io', status: 'prospect' } });
    const entityIds = ['s1', 'd1', 'm1', 's2', 'ch1', 's3', 'd2', 'o1', 's4', 's1', 's5', 'd3', 'ch2', 's6', 'm2', 's7', 'd1', 's8'];
    const id = await createdId(t.app, createBody({ entityIds, fieldsToUpdate: { status: 'lead' } }));
    await waitForAction(t.platform, id);

    const stats = (await getJson(t.app, `/api/bulk-actions/${id}/stats`)).body;
    const action = (await getJson(t.app, `/api/bulk-actions/${id}`)).body;
    const logs = await allLogs(t.app, id, 4);

    expect(logs.map((log) => log.entityId)).toEqual(entityIds);
    const count = (status: string) => logs.filter((log) => log.status === status).length;
    const codes: Record<string, number> = {};
    for (const log of logs) if (log.code !== null) codes[log.code] = (codes[log.code] ?? 0) + 1;

    expect(codes).toEqual({ NOT_FOUND: 3, VALIDATION_FAILED: 2, DUPLICATE_EMAIL: 2, DUPLICATE_ID: 2 });
    expect([count('SUCCESS'), count('FAILED'), count('SKIPPED')]).toEqual([9, 5, 4]);
    const { durationMs } = stats as { durationMs: number };
    expect(durationMs).toBeLessThanOrEqual(Date.parse(action.completedAt as string) - Date.parse(action.startedAt as string) + 50);
    expect(stats).toEqual({
      actionId: id,
      status: 'COMPLETED',
      total: 18,
      processed: 18,
      succeeded: count('SUCCESS'),
      failed: count('FAILED'),
      skipped: count('SKIPPED'),
      pending: 0,
      progress: 100,
      durationMs,
      entitiesPerSecond: durationMs === 0 ? 0 : Math.round((16 / durationMs) * 1000), // not the 2 DUPLICATE_ID repeats
      errorsByCode: codes,
    });
    expect(action.progress).toEqual({ processed: logs.length, succeeded: count('SUCCESS'), failed: count('FAILED'), skipped: count('SKIPPED') });
    for (const status of ['SUCCESS', 'FAILED', 'SKIPPED']) {
      const filtered = await allLogs(t.app, id, 2, status);
      expect(filtered).toEqual(logs.filter((log) => log.status === status));
    }
  });
});
