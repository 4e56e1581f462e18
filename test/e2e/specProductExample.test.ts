import { afterEach, describe, expect, it } from 'vitest';
import { handlers } from '../../src/handlers/index';
import { ProductHandler } from '../support/specProductHandler';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/**
 * The spec's Product example, pasted verbatim (test/support/specProductHandler.ts: it calls
 * `this.crmClient.productExists` and `this.crmClient.updateProduct`), registered as `product` in a
 * temporary registry in place of the built-in handler, and driven through the HTTP API.
 */
let t: TestPlatform | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("the spec's Product example, verbatim", () => {
  it("updates the account's products and fails another account's and an unknown one NOT_FOUND, with exact counts", async () => {
    t = await makeTestPlatform({}, { handlers: { ...handlers, product: new ProductHandler() }, workers: true });
    const now = Date.now();
    await t.platform.entityStore.insertMany('product', 'acme', [
      { id: 'prod-1', data: { name: 'Sensor', price: 10, active: true } },
      { id: 'prod-2', data: { name: 'Router', price: 20, active: true } },
    ], now);
    await t.platform.entityStore.insertMany('product', 'other', [{ id: 'prod-theirs', data: { name: 'Camera', price: 30, active: true } }], now);

    const res = await t.app.inject({
      method: 'POST',
      url: '/api/bulk-actions/product',
      payload: { accountId: 'acme', entityIds: ['prod-1', 'prod-theirs', 'prod-2', 'prod-unknown'], fieldsToUpdate: { price: 19.99, active: false } },
    });
    expect(res.statusCode, res.body).toBe(202);
    const action = await waitForAction(t.platform, res.json().id);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 4, succeeded: 2, failed: 2, skipped: 0 });

    const logs = (await t.app.inject({ url: `/api/bulk-actions/${action.id}/logs` })).json();
    expect(logs.items.map((r: { entityId: string; status: string; code: string | null }) => [r.entityId, r.status, r.code])).toEqual([
      ['prod-1', 'SUCCESS', null],
      ['prod-theirs', 'FAILED', 'NOT_FOUND'],
      ['prod-2', 'SUCCESS', null],
      ['prod-unknown', 'FAILED', 'NOT_FOUND'],
    ]);
    for (const id of ['prod-1', 'prod-2']) {
      const product = (await t.app.inject({ url: `/api/entities/product/${id}?accountId=acme` })).json();
      expect(product).toMatchObject({ id, price: 19.99, active: false });
    }
    expect((await t.platform.entityStore.get('product', 'other', 'prod-theirs'))?.data).toEqual({ name: 'Camera', price: 30, active: true });
    expect(await t.platform.entityStore.get('product', 'acme', 'prod-unknown')).toBeNull();
  });
});
