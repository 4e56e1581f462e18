import { afterEach, describe, expect, it } from 'vitest';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

let t: TestPlatform;
afterEach(async () => t?.close());

describe('smoke', () => {
  it('runs a small contact action to COMPLETED', async () => {
    t = await makeTestPlatform({}, { workers: true });
    await t.platform.entityStore.insertMany('contact', 'acme', [
      { id: 'c1', data: { email: 'a@x.io', status: 'lead' } },
      { id: 'c2', data: { email: 'b@x.io', status: 'lead' } },
    ], Date.now());
    const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions/contact', payload: { accountId: 'acme', entityIds: ['c1', 'c2', 'c3', 'c1'], fieldsToUpdate: { status: 'customer' } } });
    expect(res.statusCode).toBe(202);
    const id = res.json().id as string;
    const done = await waitForAction(t.platform, id);
    expect(done.status).toBe('COMPLETED');
    expect(done.progress).toEqual({ processed: 4, succeeded: 2, failed: 1, skipped: 1 });
    const stats = (await t.app.inject({ url: `/api/bulk-actions/${id}/stats` })).json();
    expect(stats.errorsByCode).toEqual({ NOT_FOUND: 1, DUPLICATE_ID: 1 });
    const c1 = (await t.app.inject({ url: '/api/entities/contact/c1?accountId=acme' })).json();
    expect(c1.status).toBe('customer');
  });
});
