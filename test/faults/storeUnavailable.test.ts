import { afterEach, describe, expect, it } from 'vitest';
import type { JobStore } from '../../src/store/jobStore';
import { makeTestPlatform, type TestPlatform } from '../support/testPlatform';

/**
 * A request that fails because the job store cannot be reached is answered 503 STORE_UNAVAILABLE
 * with Retry-After (the client retries; a create with the same Idempotency-Key is safe), not 500
 * INTERNAL: issue 6 asks that a create during a database outage "gets a clear 503". The failure is
 * put down to the store only when the store's own ping fails too; any other error stays a 500.
 * (Against a real FerretDB that is stopped: test/faults/serverRestart.test.ts.)
 */
let t: TestPlatform | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const body = { accountId: 'acme', entityType: 'contact', entityIds: ['c-1'], fieldsToUpdate: { title: 'x' } };

/** The platform's job store with every call below failing, and its ping failing or not. */
async function storeFailing(pingFails: boolean): Promise<TestPlatform> {
  const platform = await makeTestPlatform({ MONGODB_URL: '', RABBITMQ_URL: '' });
  const real = platform.platform.jobStore;
  const down = async () => {
    throw new Error('connect ECONNREFUSED 127.0.0.1:27017');
  };
  platform.platform.jobStore = Object.assign(Object.create(real) as JobStore, {
    findExisting: down,
    getActionWithErrors: down,
    ping: pingFails ? down : () => real.ping(),
  });
  return platform;
}

describe('a job store that cannot be reached', () => {
  it('answers a create and a read 503 STORE_UNAVAILABLE with Retry-After', async () => {
    t = await storeFailing(true);
    const create = await t.app.inject({ method: 'POST', url: '/api/bulk-actions', payload: body });
    expect(create.statusCode, create.body).toBe(503);
    expect(create.json().error.code).toBe('STORE_UNAVAILABLE');
    expect(Number(create.headers['retry-after'])).toBeGreaterThan(0);
    const stats = await t.app.inject({ url: '/api/bulk-actions/some-id/stats' });
    expect(stats.statusCode).toBe(503);
  });

  it('keeps 500 INTERNAL for an error while the store answers its ping', async () => {
    t = await storeFailing(false);
    const create = await t.app.inject({ method: 'POST', url: '/api/bulk-actions', payload: body });
    expect(create.statusCode).toBe(500);
    expect(create.json().error.code).toBe('INTERNAL');
  });
});
