import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  allLogs,
  createAction,
  createBody,
  createdId,
  expectApiError,
  getJson,
  listTotal,
  postJson,
  seed,
  type Json,
} from '../support/apiHelpers';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';
import { CreateInProgressError } from '../../src/store/jobStore';

/** Idempotency-Key replays, duplicate payloads (409), repeated IDs inside one request, and the rate limit (429). */

let t: TestPlatform;
afterEach(async () => {
  vi.restoreAllMocks();
  await t.close();
});

/** A fixed instant, so window arithmetic is exact. */
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

describe('Idempotency-Key', () => {
  beforeEach(async () => {
    t = await makeTestPlatform();
  });

  it('replays the original 202 byte-for-byte and creates nothing new', async () => {
    const key = { 'idempotency-key': 'order-42' };
    const first = await createAction(t.app, createBody(), key);
    expect(first.statusCode).toBe(202);

    const replay = await createAction(t.app, createBody(), key);
    expect(replay.statusCode).toBe(202);
    expect(replay.body).toBe(first.body);
    expect(replay.headers.location).toBe(first.headers.location);
    expect(replay.json().id).toBe(first.json().id);
    expect(await listTotal(t.app)).toBe(1);
  });

  it('replays the same request sent to the type route', async () => {
    const key = { 'idempotency-key': 'order-43' };
    const first = await createAction(t.app, createBody(), key);
    const { accountId, entityIds, fieldsToUpdate } = createBody();
    const replay = await postJson(t.app, '/api/bulk-actions/contact', { accountId, entityIds, fieldsToUpdate }, key);
    expect(replay.statusCode).toBe(202);
    expect(replay.body).toBe(first.body);
    expect(await listTotal(t.app)).toBe(1);
  });

  it('replays the creation response even after the action has finished', async () => {
    await seed(t, 'contact', 'acme', { c1: { email: 'a@x.io', status: 'lead' }, c2: { email: 'b@x.io', status: 'lead' } });
    const key = { 'idempotency-key': 'order-44' };
    const first = await createAction(t.app, createBody(), key);
    await t.startWorkers();
    const done = await waitForAction(t.platform, first.json().id as string);
    expect(done.status).toBe('COMPLETED');

    const replay = await createAction(t.app, createBody(), key);
    expect(replay.statusCode).toBe(202);
    expect(replay.body).toBe(first.body);
    expect(replay.json().status).toBe('PENDING');
    expect(await listTotal(t.app)).toBe(1);
  });

  it('two concurrent requests with one key create one action and both get its response', async () => {
    const key = { 'idempotency-key': 'order-45' };
    const [a, b] = await Promise.all([createAction(t.app, createBody(), key), createAction(t.app, createBody(), key)]);
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(b.body).toBe(a.body);
    expect(await listTotal(t.app)).toBe(1);
  });

  it.each([
    { name: 'other fields', change: { fieldsToUpdate: { status: 'lead' } } },
    { name: 'other IDs', change: { entityIds: ['c1', 'c3'] } },
    { name: 'another type', change: { entityType: 'lead', fieldsToUpdate: { status: 'new' } } },
  ])('409 IDEMPOTENCY_KEY_REUSED for the same key with $name', async ({ change }) => {
    const key = { 'idempotency-key': 'order-46' };
    const id = await createdId(t.app, createBody(), key);
    const details = expectApiError(await createAction(t.app, createBody(change), key), 409, 'IDEMPOTENCY_KEY_REUSED', null);
    expect(details.actionId).toBe(id);
    expect(await listTotal(t.app)).toBe(1);
  });

  it('scopes keys to the account: the same key in another account creates a new action', async () => {
    const key = { 'idempotency-key': 'order-47' };
    const a = await createdId(t.app, createBody(), key);
    const b = await createdId(t.app, createBody({ accountId: 'globex' }), key);
    expect(b).not.toBe(a);
    expect(await listTotal(t.app)).toBe(2);
  });

  it('with a different key the same payload is a new action', async () => {
    const a = await createdId(t.app, createBody(), { 'idempotency-key': 'k-1' });
    const b = await createdId(t.app, createBody(), { 'idempotency-key': 'k-2' });
    expect(b).not.toBe(a);
    expect(await listTotal(t.app)).toBe(2);
  });
});

describe('duplicate payloads without a key', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({ DUPLICATE_WINDOW_SECONDS: '60' });
  });

  it('409 DUPLICATE_ACTION naming the existing action, and nothing stored', async () => {
    const id = await createdId(t.app, createBody());
    const details = expectApiError(await createAction(t.app, createBody()), 409, 'DUPLICATE_ACTION', null);
    expect(details.actionId).toBe(id);
    expect(await listTotal(t.app)).toBe(1);
  });

  it('409 for the same payload sent to the type route', async () => {
    const id = await createdId(t.app, createBody());
    const { accountId, entityIds, fieldsToUpdate } = createBody();
    const res = await postJson(t.app, '/api/bulk-actions/contact', { accountId, entityIds, fieldsToUpdate });
    expect(expectApiError(res, 409, 'DUPLICATE_ACTION', null).actionId).toBe(id);
    expect(await listTotal(t.app)).toBe(1);
  });

  it('409 when only the order of the fields differs', async () => {
    const id = await createdId(t.app, createBody({ fieldsToUpdate: { status: 'customer', title: 'CTO' } }));
    const res = await createAction(t.app, createBody({ fieldsToUpdate: { title: 'CTO', status: 'customer' } }));
    expect(expectApiError(res, 409, 'DUPLICATE_ACTION', null).actionId).toBe(id);
  });

  it.each([
    { name: 'another account', change: { accountId: 'globex' } },
    { name: 'other fields', change: { fieldsToUpdate: { status: 'prospect' } } },
    { name: 'another field value', change: { fieldsToUpdate: { status: 'lead' } } },
    { name: 'other IDs', change: { entityIds: ['c1', 'c2', 'c3'] } },
    { name: 'another type', change: { entityType: 'lead', fieldsToUpdate: { status: 'new' } } },
  ])('is not a duplicate with $name', async ({ change }) => {
    const a = await createdId(t.app, createBody());
    const b = await createdId(t.app, createBody(change));
    expect(b).not.toBe(a);
    expect(await listTotal(t.app)).toBe(2);
  });

  it('two concurrent identical requests create one action', async () => {
    const [a, b] = await Promise.all([createAction(t.app, createBody()), createAction(t.app, createBody())]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([202, 409]);
    const [created, rejected] = a.statusCode === 202 ? [a, b] : [b, a];
    expect(expectApiError(rejected, 409, 'DUPLICATE_ACTION', null).actionId).toBe(created.json().id);
    expect(await listTotal(t.app)).toBe(1);
  });

  it('allows the same payload again once DUPLICATE_WINDOW_SECONDS have passed', async () => {
    const now = vi.spyOn(t.platform, 'now').mockReturnValue(T0);
    const id = await createdId(t.app, createBody());

    now.mockReturnValue(T0 + 59_999);
    expect(expectApiError(await createAction(t.app, createBody()), 409, 'DUPLICATE_ACTION', null).actionId).toBe(id);

    now.mockReturnValue(T0 + 60_001);
    const later = await createdId(t.app, createBody());
    expect(later).not.toBe(id);
    expect(await listTotal(t.app)).toBe(2);
  });
});

describe('duplicate detection switched off', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({ DUPLICATE_WINDOW_SECONDS: '0' });
  });

  it('DUPLICATE_WINDOW_SECONDS=0 accepts the same payload twice', async () => {
    const a = await createdId(t.app, createBody());
    const b = await createdId(t.app, createBody());
    expect(b).not.toBe(a);
    expect(await listTotal(t.app)).toBe(2);
  });
});

describe('repeated IDs inside one request', () => {
  beforeEach(async () => {
    t = await makeTestPlatform();
  });

  const ids = ['c1', 'c2', 'c1', 'c1', 'c3', 'c2'];

  it('records each extra occurrence as SKIPPED DUPLICATE_ID, counted in totals', async () => {
    const res = await createAction(t.app, createBody({ entityIds: ids }));
    expect(res.statusCode).toBe(202);
    const id = res.json().id as string;
    expect(res.json().totalEntities).toBe(6);
    await t.startWorkers();
    await waitForAction(t.platform, id);

    const logs = await getJson(t.app, `/api/bulk-actions/${id}/logs`);
    expect(logs.status).toBe(200);
    const items = logs.body.items as Json[];
    expect(items.map(({ entityId, status, code }) => ({ entityId, status, code }))).toEqual([
      { entityId: 'c1', status: 'FAILED', code: 'NOT_FOUND' },
      { entityId: 'c2', status: 'FAILED', code: 'NOT_FOUND' },
      { entityId: 'c1', status: 'SKIPPED', code: 'DUPLICATE_ID' },
      { entityId: 'c1', status: 'SKIPPED', code: 'DUPLICATE_ID' },
      { entityId: 'c3', status: 'FAILED', code: 'NOT_FOUND' },
      { entityId: 'c2', status: 'SKIPPED', code: 'DUPLICATE_ID' },
    ]);
    expect(items[2]?.message).toBe('entity ID repeats the one at position 0');
    expect(logs.body.total).toBe(6);

    const stats = await getJson(t.app, `/api/bulk-actions/${id}/stats`);
    expect(stats.body.total).toBe(6);
    expect(stats.body.skipped).toBe(3);
    expect(stats.body.pending).toBe(0);
    expect(stats.body.errorsByCode).toEqual({ DUPLICATE_ID: 3, NOT_FOUND: 3 });
  });

  it('processes the first occurrence of each ID and skips the rest, in request order', async () => {
    await seed(t, 'contact', 'acme', {
      c1: { email: 'c1@x.io', status: 'lead' },
      c2: { email: 'c2@x.io', status: 'lead' },
      c3: { email: 'c3@x.io', status: 'lead' },
    });
    const id = await createdId(t.app, createBody({ entityIds: ids }));
    await t.startWorkers();
    const done = await waitForAction(t.platform, id);
    expect(done.status).toBe('COMPLETED');
    expect(done.progress).toEqual({ processed: 6, succeeded: 3, failed: 0, skipped: 3 });

    const logs = await allLogs(t.app, id, 100);
    expect(logs.map(({ entityId, status, code }) => [entityId, status, code])).toEqual([
      ['c1', 'SUCCESS', null],
      ['c2', 'SUCCESS', null],
      ['c1', 'SKIPPED', 'DUPLICATE_ID'],
      ['c1', 'SKIPPED', 'DUPLICATE_ID'],
      ['c3', 'SUCCESS', null],
      ['c2', 'SKIPPED', 'DUPLICATE_ID'],
    ]);
  });
});

describe('rate limit', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({ RATE_LIMIT_REQUESTS_PER_MINUTE: '3' });
  });

  const nth = (n: number, accountId = 'acme') => createBody({ accountId, entityIds: [`c${n}`] });

  it('429 with Retry-After past the limit, nothing stored, another account unaffected', async () => {
    for (let n = 1; n <= 3; n++) await createdId(t.app, nth(n));

    const limited = await createAction(t.app, nth(4));
    const details = expectApiError(limited, 429, 'RATE_LIMITED', null);
    const retryAfter = limited.headers['retry-after'];
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    expect(details.retryAfterSeconds).toBe(Number(retryAfter));
    expect(await listTotal(t.app)).toBe(3);
    expect(await listTotal(t.app, 'accountId=acme')).toBe(3);

    await createdId(t.app, nth(5, 'globex'));
    expect(await listTotal(t.app, 'accountId=globex')).toBe(1);
  });

  it('limits the type route too, with the account counted across both routes', async () => {
    for (let n = 1; n <= 3; n++) await createdId(t.app, nth(n));
    const res = await postJson(t.app, '/api/bulk-actions/lead', { accountId: 'acme', entityIds: ['l1'], fieldsToUpdate: { status: 'new' } });
    expectApiError(res, 429, 'RATE_LIMITED', null);
    expect(await listTotal(t.app)).toBe(3);
  });

  it('an Idempotency-Key replay gets the original 202 even when the account is at its limit', async () => {
    const first = await createAction(t.app, nth(1), { 'idempotency-key': 'k-1' });
    expect(first.statusCode).toBe(202);
    for (let n = 2; n <= 3; n++) await createdId(t.app, nth(n));

    const replay = await createAction(t.app, nth(1), { 'idempotency-key': 'k-1' });
    expect(replay.statusCode, replay.body).toBe(202);
    expect(replay.body).toBe(first.body);
    expect(await listTotal(t.app)).toBe(3);
  });

  it('replays and duplicate 409s are not creates: they do not use up the limit', async () => {
    await createdId(t.app, nth(1), { 'idempotency-key': 'k-1' });
    expect((await createAction(t.app, nth(1), { 'idempotency-key': 'k-1' })).statusCode).toBe(202);
    await createdId(t.app, nth(2));
    expectApiError(await createAction(t.app, nth(2)), 409, 'DUPLICATE_ACTION', null);

    // Two creates so far: the third is still within the limit.
    const third = await createAction(t.app, nth(3));
    expect(third.statusCode, third.body).toBe(202);
    expect(await listTotal(t.app)).toBe(3);
  });

  it('Retry-After is the time until the oldest create leaves the minute, and then a create is allowed', async () => {
    const now = vi.spyOn(t.platform, 'now');
    for (let n = 1; n <= 3; n++) {
      now.mockReturnValue(T0 + (n - 1) * 1000);
      await createdId(t.app, nth(n));
    }

    now.mockReturnValue(T0 + 30_000);
    const limited = await createAction(t.app, nth(4));
    expectApiError(limited, 429, 'RATE_LIMITED', null);
    expect(limited.headers['retry-after']).toBe('30');

    now.mockReturnValue(T0 + 59_999);
    const almost = await createAction(t.app, nth(5));
    expectApiError(almost, 429, 'RATE_LIMITED', null);
    expect(almost.headers['retry-after']).toBe('1');

    now.mockReturnValue(T0 + 60_001);
    await createdId(t.app, nth(6));
    expect(await listTotal(t.app)).toBe(4);
  });
});

describe('an identical create still half-way in another API process', () => {
  beforeEach(async () => {
    t = await makeTestPlatform();
  });

  it('answers 409 CREATE_IN_PROGRESS with Retry-After and stores nothing', async () => {
    // The MongoDB job store throws this while another process holds the claim of the same request.
    vi.spyOn(t.platform.jobStore, 'insertAction').mockRejectedValue(new CreateInProgressError('IDEMPOTENCY_KEY', 'other-action'));
    const res = await createAction(t.app, createBody(), { 'idempotency-key': 'k-1' });
    const details = expectApiError(res, 409, 'CREATE_IN_PROGRESS', null);
    expect(details).toEqual({ actionId: 'other-action', reason: 'IDEMPOTENCY_KEY' });
    expect(res.headers['retry-after']).toBe('1');
    expect(await listTotal(t.app)).toBe(0);
  });
});
