import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { startCreateThread, type CreateThread } from '../../src/actions/createThread/createThread';
import { buildApp } from '../../src/api/buildApp';
import { ApiError } from '../../src/errors';
import { BaseEntityHandler, type RequestRuleViolation } from '../../src/handlers/BaseEntityHandler';
import type { EntitySchema } from '../../src/handlers/fieldSchema';
import { handlers, type HandlerRegistry } from '../../src/handlers/index';
import type { FieldUpdates } from '../../src/types/entities';
import { requestSchemasOf } from '../../src/actions/validateRequest';
import { createAction, expectApiError, listTotal, TicketHandler } from '../support/apiHelpers';
import { makeTestPlatform, waitForAction, withTestKey, type TestPlatform } from '../support/testPlatform';

/**
 * Issue 8: a handler's request-level rule (validateFieldsToUpdate) answers 400 UPDATE_RULE_VIOLATED
 * with the field and the rule before anything is stored or counted, on the event loop and in the
 * create thread (where the rule runs as a question to the API thread, which holds the handlers).
 */

/** A type with one rule over two fields, and two ways a handler can get a rule wrong. */
class ShipmentHandler extends BaseEntityHandler {
  override readonly fields: EntitySchema = {
    status: { type: 'enum', values: ['packed', 'shipped', 'delivered'] },
    deliveredOn: { type: 'date', nullable: true },
    carrier: { type: 'string', maxLength: 40 },
    tags: { type: 'string[]' },
  };

  constructor() {
    super('shipment');
  }

  /** Tests: a carrier the rule refuses from now on, as a rule added by a later deploy would. */
  refuseCarrier: string | null = null;

  override validateFieldsToUpdate(fields: Readonly<FieldUpdates>): RequestRuleViolation | null {
    if (this.refuseCarrier !== null && fields.carrier === this.refuseCarrier) {
      return { field: 'carrier', rule: 'carrierRetired', message: `carrier ${this.refuseCarrier} is no longer used` };
    }
    if (fields.carrier === 'mutate') (fields as FieldUpdates).carrier = 'changed by the rule';
    if (fields.carrier === 'push') (fields.tags as string[]).push('added by the rule');
    if (fields.carrier === 'malformed') return { field: 'carrier' } as RequestRuleViolation;
    if (fields.carrier === 'api-error') throw new ApiError('ACCOUNT_FORBIDDEN');
    if (fields.carrier === 'with-a-function') {
      return { field: 'carrier', rule: 'noFunctions', message: 'carrier is refused', hint: () => 'not clonable' } as RequestRuleViolation;
    }
    if (fields.status === 'delivered' && typeof fields.deliveredOn !== 'string') {
      return { field: 'deliveredOn', rule: 'deliveredOnRequiredWhenDelivered', message: 'deliveredOn is required when status is delivered' };
    }
    return null;
  }

  async validateEntity(entityId: string): Promise<boolean> {
    return this.crmClient.exists(entityId);
  }

  async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
    await this.crmClient.update(entityId, updates);
  }
}

const registry: HandlerRegistry = { ...handlers, shipment: new ShipmentHandler() };

interface Setup {
  t: TestPlatform;
  app: FastifyInstance;
  creates: CreateThread | null;
}
const opened: Setup[] = [];
afterEach(async () => {
  for (const { t, app, creates } of opened.splice(0)) {
    if (creates) await app.close();
    await creates?.stop();
    await t.close();
  }
});

async function setUp(thread: boolean): Promise<Setup> {
  // A budget of 2 creates a minute: refused requests must not use it up.
  const t = await makeTestPlatform({ RATE_LIMIT_REQUESTS_PER_MINUTE: '2' }, { handlers: registry, workers: true });
  const creates = thread ? await startCreateThread(t.platform, { sweepOutbox: false }) : null;
  const app = creates ? withTestKey(await buildApp(t.platform, { creates })) : t.app;
  const setup = { t, app, creates };
  opened.push(setup);
  return setup;
}

const shipment = (fieldsToUpdate: FieldUpdates, entityIds = ['s1', 's2']) =>
  ({ accountId: 'acme', entityType: 'shipment', entityIds, fieldsToUpdate });

describe.each([
  ['on the event loop', false],
  ['in the create thread', true],
])('a request-level rule, %s', (_where, thread) => {
  it('answers 400 with the code, the field and the rule, and stores and counts nothing', async () => {
    const { t, app } = await setUp(thread);
    for (let i = 0; i < 5; i++) {
      const res = await createAction(app, shipment({ status: 'delivered', carrier: `c${i}` }));
      const details = expectApiError(res, 400, 'UPDATE_RULE_VIOLATED', 'fieldsToUpdate.deliveredOn');
      expect(details).toEqual({
        field: 'fieldsToUpdate.deliveredOn',
        rule: 'deliveredOnRequiredWhenDelivered',
        reason: 'deliveredOn is required when status is delivered',
      });
      expect(res.json().error.message).toBe('deliveredOn is required when status is delivered');
    }
    // null is what the rule refuses too: the field is declared nullable, the rule says otherwise.
    expectApiError(await createAction(app, shipment({ status: 'delivered', deliveredOn: null })), 400, 'UPDATE_RULE_VIOLATED', 'fieldsToUpdate.deliveredOn');
    expect(await listTotal(app)).toBe(0);

    // Six refusals later, the account still has its whole budget of two.
    await t.platform.entityStore.insertMany('shipment', 'acme', [{ id: 's1', data: { status: 'shipped' } }, { id: 's2', data: { status: 'shipped' } }], Date.now());
    const ok = await createAction(app, shipment({ status: 'delivered', deliveredOn: '2026-03-31' }));
    expect(ok.statusCode).toBe(202);
    expect((await createAction(app, shipment({ status: 'shipped' }))).statusCode).toBe(202);
    expect((await createAction(app, shipment({ status: 'packed' }))).statusCode).toBe(429);

    const action = await waitForAction(t.platform, ok.json().id);
    expect(action.progress).toEqual({ processed: 2, succeeded: 2, failed: 0, skipped: 0 });
  });

  it('checks the fields only after each passed its declaration', async () => {
    const { app } = await setUp(thread);
    // deliveredOn is no date: the field's own 400 comes first, not the rule's.
    const res = await createAction(app, shipment({ status: 'delivered', deliveredOn: '2026-02-30' }));
    expectApiError(res, 400, 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.deliveredOn');
  });

  it('hands the rule a frozen copy: a rule cannot change what is stored', async () => {
    const { app } = await setUp(thread);
    for (const carrier of ['mutate', 'push']) {
      const res = await createAction(app, shipment({ status: 'packed', carrier, tags: ['fragile'] }));
      // The rule threw (it wrote to a frozen object): a server error, not the client's, and nothing stored.
      expect(res.statusCode).toBe(500);
      expect(res.json().error.code).toBe('INTERNAL');
    }
    expect(await listTotal(app)).toBe(0);
  });

  it('treats an answer that is not a violation, or anything thrown, even an ApiError, as a server error', async () => {
    const { app } = await setUp(thread);
    for (const carrier of ['malformed', 'api-error']) {
      const res = await createAction(app, shipment({ status: 'packed', carrier }));
      expect(res.statusCode, carrier).toBe(500);
      expect(res.json().error.code).toBe('INTERNAL');
    }
    expect(await listTotal(app)).toBe(0);
  });

  it('answers a violation carrying more than its three parts as the violation', async () => {
    const { app } = await setUp(thread);
    const res = await createAction(app, shipment({ status: 'packed', carrier: 'with-a-function' }));
    expect(expectApiError(res, 400, 'UPDATE_RULE_VIOLATED', 'fieldsToUpdate.carrier')).toEqual({
      field: 'fieldsToUpdate.carrier',
      rule: 'noFunctions',
      reason: 'carrier is refused',
    });
  });

  it('replays an accepted request even after a rule that refuses it was added', async () => {
    const { t, app } = await setUp(thread);
    await t.platform.entityStore.insertMany('shipment', 'acme', [{ id: 's1', data: {} }, { id: 's2', data: {} }], Date.now());
    const body = shipment({ status: 'shipped', carrier: 'later-refused' });
    const first = await createAction(app, body, { 'idempotency-key': 'order-7' });
    expect(first.statusCode).toBe(202);
    // A deploy adds a rule that refuses this request; the client's retry of it must get its 202 back.
    const handler = registry.shipment as ShipmentHandler;
    handler.refuseCarrier = 'later-refused';
    try {
      const retry = await createAction(app, body, { 'idempotency-key': 'order-7' });
      expect(retry.statusCode).toBe(202);
      expect(retry.body).toBe(first.body);
      // Without a key, the same request within the window is the duplicate it is, not a rule's 400.
      expectApiError(await createAction(app, body), 409, 'DUPLICATE_ACTION', null);
      // A new request is refused by the rule.
      expectApiError(await createAction(app, shipment({ status: 'packed', carrier: 'later-refused' })), 400, 'UPDATE_RULE_VIOLATED', 'fieldsToUpdate.carrier');
    } finally {
      handler.refuseCarrier = null;
    }
    expect(await listTotal(app)).toBe(1);
  });
});

it('lets types without a rule skip the question to the API thread', () => {
  // A registry of its own: the built-in one may gain types with rules.
  const schemas = requestSchemasOf({ shipment: new ShipmentHandler(), ticket: new TicketHandler() });
  expect(schemas.shipment?.hasRequestRule).toBe(true);
  expect(schemas.ticket?.hasRequestRule).toBe(false);
});
