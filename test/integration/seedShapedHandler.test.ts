import { afterEach, describe, expect, it } from 'vitest';
import { BaseEntityHandler } from '../../src/handlers/BaseEntityHandler';
import { handlers } from '../../src/handlers/index';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/**
 * Written exactly as the spec's extension guide shows: a constructor, validateEntity and updateEntity.
 * No field schema, no batch path.
 */
class WidgetHandler extends BaseEntityHandler {
  constructor() {
    super('widget');
  }

  async validateEntity(entityId: string): Promise<boolean> {
    // Add entity-specific validation logic
    return entityId !== 'widget-frozen';
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the guide's signature, verbatim
  async updateEntity(entityId: string, updates: Record<string, any>): Promise<void> {
    await this.crmClient.update(entityId, updates);
  }
}

let t: TestPlatform;
afterEach(async () => t?.close());

describe('a handler written as the seed guide shows', () => {
  it('gets a working entity type: route, validation, per-entity processing, logs', async () => {
    t = await makeTestPlatform({}, { handlers: { ...handlers, widget: new WidgetHandler() }, workers: true });
    await t.platform.entityStore.insertMany('widget', 'acme', [
      { id: 'widget-1', data: { colour: 'red' } },
      { id: 'widget-2', data: { colour: 'red' } },
      { id: 'widget-frozen', data: { colour: 'red' } },
    ], Date.now());
    await t.platform.entityStore.insertMany('widget', 'other', [{ id: 'widget-theirs', data: { colour: 'red' } }], Date.now());

    const res = await t.app.inject({
      method: 'POST',
      url: '/api/bulk-actions/widget',
      payload: { accountId: 'acme', entityIds: ['widget-1', 'widget-2', 'widget-frozen', 'widget-theirs'], fieldsToUpdate: { colour: 'blue' } },
    });
    expect(res.statusCode).toBe(202);
    const action = await waitForAction(t.platform, res.json().id);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 4, succeeded: 2, failed: 2, skipped: 0 });

    const logs = (await t.app.inject({ url: `/api/bulk-actions/${action.id}/logs` })).json();
    expect(logs.items.map((r: { entityId: string; status: string; code: string | null }) => [r.entityId, r.status, r.code])).toEqual([
      ['widget-1', 'SUCCESS', null],
      ['widget-2', 'SUCCESS', null],
      ['widget-frozen', 'FAILED', 'VALIDATION_FAILED'],
      ['widget-theirs', 'FAILED', 'NOT_FOUND'],
    ]);
    const widget = (await t.app.inject({ url: '/api/entities/widget/widget-1?accountId=acme' })).json();
    expect(widget.colour).toBe('blue');
    const frozen = await t.platform.entityStore.get('widget', 'acme', 'widget-frozen');
    expect(frozen?.data.colour).toBe('red');
    const theirs = await t.platform.entityStore.get('widget', 'other', 'widget-theirs');
    expect(theirs?.data.colour).toBe('red');
  });

  it('still refuses unsafe field names and non-scalar values without a schema', async () => {
    t = await makeTestPlatform({}, { handlers: { ...handlers, widget: new WidgetHandler() } });
    const post = (fieldsToUpdate: unknown) =>
      t.app.inject({ method: 'POST', url: '/api/bulk-actions/widget', payload: { accountId: 'acme', entityIds: ['w'], fieldsToUpdate } });
    expect((await post({ $set: 1 })).json().error).toMatchObject({ code: 'RESERVED_FIELD', details: { field: 'fieldsToUpdate.$set' } });
    expect((await post({ 'a.b': 1 })).json().error.code).toBe('RESERVED_FIELD');
    expect((await post({ nested: { x: 1 } })).json().error).toMatchObject({ code: 'INVALID_UPDATE_VALUE', details: { field: 'fieldsToUpdate.nested' } });
  });
});
