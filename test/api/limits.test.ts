import { afterEach, describe, expect, it } from 'vitest';
import { handlers, type HandlerRegistry } from '../../src/handlers/index';
import { createAction, createBody, expectApiError, listTotal, NoteHandler, postRaw } from '../support/apiHelpers';
import { makeTestPlatform, type TestPlatform } from '../support/testPlatform';

/**
 * Issue 7, "Limits": each limit of a create body is enforced before anything is stored, with a
 * test at the limit (accepted) and just past it (refused, with the field). Small limits are set
 * through the environment, as an operator would (README configuration table).
 */

const registry: HandlerRegistry = { ...handlers, note: new NoteHandler() };

const LIMITS = {
  BODY_LIMIT_BYTES: '2048',
  MAX_ENTITY_IDS: '3',
  MAX_ENTITY_ID_LENGTH: '5',
  MAX_FIELD_NAME_LENGTH: '6', // 'status', createBody's field, is 6
  MAX_UPDATE_FIELDS: '3',
  MAX_FIELD_STRING_LENGTH: '8', // 'customer', createBody's value, is 8
  MAX_FIELD_ARRAY_ITEMS: '2',
  RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
  DUPLICATE_WINDOW_SECONDS: '0',
};

let t: TestPlatform;
afterEach(async () => t?.close());

const note = (fieldsToUpdate: Record<string, unknown>, overrides: Record<string, unknown> = {}) =>
  createBody({ entityType: 'note', entityIds: ['n1'], fieldsToUpdate, ...overrides });

/** Accepted at the limit, refused past it with `code` and `field`; nothing stored by the refusal. */
async function atAndPast(at: Record<string, unknown>, past: Record<string, unknown>, code: Parameters<typeof expectApiError>[2], field: string) {
  const before = await listTotal(t.app);
  const accepted = await createAction(t.app, at);
  expect(accepted.statusCode, accepted.body).toBe(202);
  expectApiError(await createAction(t.app, past), 400, code, field);
  expect(await listTotal(t.app)).toBe(before + 1);
}

describe('create body limits', () => {
  it('MAX_ENTITY_IDS and MAX_ENTITY_ID_LENGTH', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    await atAndPast(createBody({ entityIds: ['a', 'b', 'c'] }), createBody({ entityIds: ['a', 'b', 'c', 'd'] }), 'TOO_MANY_ENTITY_IDS', 'entityIds');
    await atAndPast(createBody({ entityIds: ['12345'] }), createBody({ entityIds: ['a', '123456'] }), 'INVALID_ENTITY_IDS', 'entityIds[1]');
  });

  it('accountId: 128 characters (fixed)', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    await atAndPast(createBody({ accountId: 'a'.repeat(128) }), createBody({ accountId: 'a'.repeat(129) }), 'INVALID_FIELD', 'accountId');
  });

  it('MAX_FIELD_NAME_LENGTH and MAX_UPDATE_FIELDS', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    await atAndPast(note({ abcdef: 1 }), note({ abcdefg: 1 }), 'INVALID_FIELD', 'fieldsToUpdate.abcdefg');
    await atAndPast(note({ a: 1, b: 2, c: 3 }), note({ a: 1, b: 2, c: 3, d: 4 }), 'TOO_MANY_UPDATE_FIELDS', 'fieldsToUpdate');
  });

  it('MAX_FIELD_STRING_LENGTH, for a value and for an item of a list', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    await atAndPast(note({ a: 'x'.repeat(8) }), note({ a: 'x'.repeat(9) }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.a');
    await atAndPast(note({ a: ['x'.repeat(8)] }), note({ a: ['x', 'x'.repeat(9)] }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.a[1]');
  });

  it('MAX_FIELD_ARRAY_ITEMS, and values are flat: a list of lists or an object is refused with the field', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    await atAndPast(note({ a: ['x', 'y'] }), note({ a: ['x', 'y', 'z'] }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.a');
    expectApiError(await createAction(t.app, note({ a: [['x']] })), 400, 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.a');
    expectApiError(await createAction(t.app, note({ a: { b: 'x' } })), 400, 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.a');
  });

  it('Idempotency-Key: 200 printable ASCII characters (fixed)', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    const ok = await createAction(t.app, createBody(), { 'idempotency-key': 'k'.repeat(200) });
    expect(ok.statusCode, ok.body).toBe(202);
    expectApiError(await createAction(t.app, createBody(), { 'idempotency-key': 'k'.repeat(201) }), 400, 'INVALID_FIELD', 'Idempotency-Key');
  });

  it('BODY_LIMIT_BYTES: a body of exactly that many bytes is taken, one more byte is 413', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    const json = JSON.stringify(createBody());
    const padded = (bytes: number) => json.slice(0, -1) + ' '.repeat(bytes - json.length) + '}';
    expect(Buffer.byteLength(padded(2048))).toBe(2048);
    expect((await postRaw(t.app, '/api/bulk-actions', padded(2048))).statusCode).toBe(202);
    expectApiError(await postRaw(t.app, '/api/bulk-actions', padded(2049)), 413, 'PAYLOAD_TOO_LARGE', null);
    expect(await listTotal(t.app)).toBe(1);
  });

  it('query values: 1024 characters at most', async () => {
    t = await makeTestPlatform(LIMITS, { handlers: registry });
    expect((await t.app.inject({ method: 'GET', url: `/api/bulk-actions?entityType=${'e'.repeat(1024)}` })).statusCode).toBe(200);
    expectApiError(await t.app.inject({ method: 'GET', url: `/api/bulk-actions?entityType=${'e'.repeat(1025)}` }), 400, 'INVALID_QUERY', 'entityType');
  });
});
