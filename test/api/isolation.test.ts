import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { processBatch } from '../../src/processing/processBatch';
import { authHeader, expectApiError, postJson, seed } from '../support/apiHelpers';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/**
 * Tenant isolation (issue 7): with account A's key, nothing of account B can be read, listed,
 * paged or changed, and B's data answers exactly as missing data does. Keys: A = acme, B = beta.
 */
const KEY_A = 'key-of-acme-0123456789abcdef';
const KEY_B = 'key-of-beta-0123456789abcdef';
const A = authHeader(KEY_A);
const B = authHeader(KEY_B);

let t: TestPlatform;
afterEach(async () => t?.close());

async function platform(env: Record<string, string> = {}): Promise<TestPlatform> {
  t = await makeTestPlatform({ API_KEYS: `${KEY_A}:acme,${KEY_B}:beta`, ...env });
  // Entity IDs are unique per type across accounts, so each account has its own.
  await seed(t, 'contact', 'acme', { a1: { status: 'lead' }, a2: { status: 'lead' } });
  await seed(t, 'contact', 'beta', { b1: { status: 'lead' }, b2: { status: 'lead' } });
  return t;
}

async function createAs(headers: Record<string, string>, body: Record<string, unknown>) {
  return postJson(t.app, '/api/bulk-actions/contact', body, headers);
}

async function createdAs(headers: Record<string, string>, entityIds: string[], fields: Record<string, unknown> = { status: 'customer' }): Promise<string> {
  const res = await createAs(headers, { entityIds, fieldsToUpdate: fields });
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as { id: string }).id;
}

const get = (url: string, headers: Record<string, string>) => t.app.inject({ method: 'GET', url, headers });

describe('account A against account B', () => {
  it("answers A's reads of B's action, its stats and every page of its logs exactly as for a missing action", async () => {
    await platform();
    const theirs = await createdAs(B, ['b1']);
    await t.startWorkers();
    await waitForAction(t.platform, theirs);
    const missing = randomUUID();
    for (const suffix of ['', '/stats', '/logs', '/logs?page=1&limit=1', '/logs?page=2&limit=1', '/logs?status=SUCCESS']) {
      const attempt = await get(`/api/bulk-actions/${theirs}${suffix}`, A);
      const baseline = await get(`/api/bulk-actions/${missing}${suffix}`, A);
      expectApiError(attempt, 404, 'ACTION_NOT_FOUND', null);
      expect(attempt.body).toBe(baseline.body.replaceAll(missing, theirs));
      expect(attempt.headers['content-length']).toBe(baseline.headers['content-length']);
      // B itself reads it.
      expect((await get(`/api/bulk-actions/${theirs}${suffix}`, B)).statusCode).toBe(200);
    }
  });

  it('refuses a query naming B with 403 on every bulk-action route, creates included, instead of ignoring it', async () => {
    await platform();
    const mine = await createdAs(A, ['a1']);
    for (const suffix of ['', '/stats', '/logs']) {
      expectApiError(await get(`/api/bulk-actions/${mine}${suffix}?accountId=beta`, A), 403, 'ACCOUNT_FORBIDDEN', 'accountId');
    }
    const res = await postJson(t.app, '/api/bulk-actions/contact?accountId=beta', { entityIds: ['a2'], fieldsToUpdate: { status: 'customer' } }, A);
    expectApiError(res, 403, 'ACCOUNT_FORBIDDEN', 'accountId');
    expect((await get(`/api/bulk-actions/${mine}?accountId=acme`, A)).statusCode).toBe(200); // its own account is fine
  });

  it("lists only the key's own actions, whatever the query says, and refuses a query naming B with 403", async () => {
    await platform();
    const mine = await createdAs(A, ['a1']);
    await createdAs(B, ['b1']);
    await createdAs(B, ['b2']);
    const list = (await get('/api/bulk-actions', A)).json() as { items: { id: string; accountId: string }[]; total: number };
    expect(list.items.map((i) => i.id)).toEqual([mine]);
    expect(list.total).toBe(1);
    for (const query of ['status=PENDING', 'entityType=contact', 'page=1&limit=1000', 'accountId=acme']) {
      expect(((await get(`/api/bulk-actions?${query}`, A)).json() as { total: number }).total).toBe(1);
    }
    expectApiError(await get('/api/bulk-actions?accountId=beta', A), 403, 'ACCOUNT_FORBIDDEN', 'accountId');
    // The admin key sees both, and filters by account.
    expect(((await get('/api/bulk-actions', authHeader())).json() as { total: number }).total).toBe(3);
    expect(((await get('/api/bulk-actions?accountId=beta', authHeader())).json() as { total: number }).total).toBe(2);
  });

  it("answers A's read of B's entity exactly as for a missing one, and refuses ?accountId=beta", async () => {
    await platform();
    const attempt = await get('/api/entities/contact/b1', A);
    const baseline = await get('/api/entities/contact/zz', A);
    expectApiError(attempt, 404, 'ENTITY_NOT_FOUND', null);
    expect(attempt.body).toBe(baseline.body.replaceAll('zz', 'b1'));
    expect((await get('/api/entities/contact/a2', A)).json()).toMatchObject({ id: 'a2', accountId: 'acme' });
    expectApiError(await get('/api/entities/contact/b1?accountId=beta', A), 403, 'ACCOUNT_FORBIDDEN', 'accountId');
    expect((await get('/api/entities/contact/b1', B)).json()).toMatchObject({ id: 'b1', accountId: 'beta' });
  });

  it("cannot change B's entities: a create naming B is 403, and B's IDs in A's action are NOT_FOUND in A's account", async () => {
    await platform();
    expectApiError(await createAs(A, { accountId: 'beta', entityIds: ['b1'], fieldsToUpdate: { status: 'customer' } }), 403, 'ACCOUNT_FORBIDDEN', 'accountId');
    const id = await createdAs(A, ['b1', 'a2']);
    await t.startWorkers();
    const action = await waitForAction(t.platform, id);
    expect(action.accountId).toBe('acme');
    const logs = (await get(`/api/bulk-actions/${id}/logs`, A)).json() as { items: { entityId: string; status: string; code: string | null }[] };
    expect(logs.items.map((l) => [l.entityId, l.status, l.code])).toEqual([
      ['b1', 'FAILED', 'NOT_FOUND'],
      ['a2', 'SUCCESS', null],
    ]);
    expect((await t.platform.entityStore.get('contact', 'beta', 'b1'))?.data.status).toBe('lead');
    expect((await t.platform.entityStore.get('contact', 'beta', 'b2'))?.data.status).toBe('lead');
    expect((await t.platform.entityStore.get('contact', 'acme', 'a2'))?.data.status).toBe('customer');
  });

  it('keys the rate limit and the duplicate window on the authenticated account', async () => {
    await platform({ RATE_LIMIT_REQUESTS_PER_MINUTE: '2' });
    const body = { entityIds: ['a1', 'b1'], fieldsToUpdate: { title: 'same' } };
    expect((await createAs(A, body)).statusCode).toBe(202);
    // The same body from B is B's own first request, not A's duplicate.
    expect((await createAs(B, body)).statusCode).toBe(202);
    expectApiError(await createAs(A, body), 409, 'DUPLICATE_ACTION', null);
    expect((await createAs(A, { ...body, fieldsToUpdate: { title: 'two' } })).statusCode).toBe(202);
    expectApiError(await createAs(A, { ...body, fieldsToUpdate: { title: 'three' } }), 429, 'RATE_LIMITED', null);
    // Naming another account no longer walks around the limit: it is refused.
    expectApiError(await createAs(A, { ...body, accountId: 'someone-else', fieldsToUpdate: { title: 'four' } }), 403, 'ACCOUNT_FORBIDDEN', 'accountId');
    expect((await createAs(B, { ...body, fieldsToUpdate: { title: 'two' } })).statusCode).toBe(202);
  });

  it("scopes Idempotency-Key to the account: B's key used by A neither replays B's answer nor names B's action", async () => {
    await platform();
    const body = { entityIds: ['b1'], fieldsToUpdate: { status: 'customer' } };
    const theirs = await postJson(t.app, '/api/bulk-actions/contact', body, { ...B, 'idempotency-key': 'k-1' });
    expect(theirs.statusCode).toBe(202);
    const theirId = (theirs.json() as { id: string }).id;
    const ours = await postJson(t.app, '/api/bulk-actions/contact', body, { ...A, 'idempotency-key': 'k-1' });
    expect(ours.statusCode, ours.body).toBe(202);
    expect(ours.headers['idempotent-replayed']).toBe('false');
    expect(ours.json()).toMatchObject({ accountId: 'acme' });
    // A reusing the key with another body is told about its own action only.
    const reused = await postJson(t.app, '/api/bulk-actions/contact', { ...body, fieldsToUpdate: { status: 'churned' } }, { ...A, 'idempotency-key': 'k-1' });
    expect(expectApiError(reused, 409, 'IDEMPOTENCY_KEY_REUSED', null)).toEqual({ actionId: (ours.json() as { id: string }).id });
    expect(reused.body).not.toContain(theirId);
  });

  it("forged queue messages change nothing of B's beyond B's own plan", async () => {
    await platform();
    const ours = await createdAs(A, ['a1']);
    const theirs = await createdAs(B, ['b1'], { title: 'planned by beta' });
    // A's action id carrying B's entity ids (and B's account): IDs not in A's plan, dead-lettered.
    const withTheirIds = { actionId: ours, accountId: 'beta', entityType: 'contact', batchNo: 0, entityIds: ['b1'], seqs: [0], fieldsToUpdate: { status: 'churned' } };
    expect(await processBatch(t.platform, withTheirIds, { attempt: 1 })).toBe('dead-letter');
    expect((await t.platform.entityStore.get('contact', 'beta', 'b1'))?.data).toMatchObject({ status: 'lead' });
    expect((await t.platform.entityStore.get('contact', 'beta', 'b1'))?.data).not.toHaveProperty('title');
    // B's action id carrying A's account and other fields: worked as B's plan says, in B's account.
    const inOurName = { actionId: theirs, accountId: 'acme', entityType: 'contact', batchNo: 0, entityIds: ['b1'], seqs: [0], fieldsToUpdate: { status: 'churned' } };
    expect(await processBatch(t.platform, inOurName, { attempt: 1 })).toBe('ack');
    const b1 = await t.platform.entityStore.get('contact', 'beta', 'b1');
    expect(b1?.data).toMatchObject({ status: 'lead', title: 'planned by beta' });
    expect((await t.platform.entityStore.get('contact', 'acme', 'a1'))?.data).toEqual({ status: 'lead' });
    expect((await t.platform.entityStore.get('contact', 'beta', 'b2'))?.data).toEqual({ status: 'lead' });
  });
});
