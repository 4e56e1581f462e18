import { afterEach, describe, expect, it } from 'vitest';
import { startCreateThread, type CreateThread } from '../../src/actions/createThread/createThread';
import { ApiError } from '../../src/errors';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { expectApiError, getJson, listTotal, postRaw, seed } from '../support/apiHelpers';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/**
 * Issue 7, "Input that the platform would change is refused, not changed": every value the
 * platform could not store and give back exactly is a 400 naming the field, and nothing is stored.
 * Each create is sent through HTTP on the event loop and, with the same bytes, to the create thread
 * (where `npm start` runs creates), which must answer the same.
 */

let t: TestPlatform;
let opened: TestPlatform | null = null;
let creates: CreateThread | null = null;
/** Stops the create thread and closes the platform, once (both afterEach hooks call it). */
async function closeAll(): Promise<void> {
  await creates?.stop();
  creates = null;
  const platform = opened;
  opened = null;
  await platform?.close();
}
afterEach(closeAll);

async function setUp(env: Record<string, string> = {}): Promise<void> {
  t = opened = await makeTestPlatform({ RATE_LIMIT_REQUESTS_PER_MINUTE: '1000', DUPLICATE_WINDOW_SECONDS: '0', ...env });
  creates = await startCreateThread(t.platform, { sweepOutbox: false });
}

/** The raw JSON text `body` sent to both create paths: the code and details.field each answered with (null: accepted). */
async function bothPaths(body: string | Uint8Array): Promise<Array<{ code: string | null; field: unknown }>> {
  const res = await t.app.inject({ method: 'POST', url: '/api/bulk-actions', payload: Buffer.from(body), headers: { 'content-type': 'application/json' } });
  const http = res.statusCode === 202 ? { code: null, field: undefined } : { code: String(res.json().error.code), field: res.json().error.details.field };
  if (res.statusCode !== 202) expect(res.statusCode, res.body).toBe(400);
  // No callerAccount key of our own: an admin's create, as an HTTP create with the test's admin key.
  const request = { body: new Uint8Array(Buffer.from(body)), routeEntityType: null, idempotencyKey: null, callerAccount: null, receivedAt: Date.now() };
  const thread = await creates!.create(request).then(
    () => ({ code: null, field: undefined }),
    (error: unknown) => {
      if (!(error instanceof ApiError)) throw error;
      return { code: error.code as string, field: error.details.field };
    },
  );
  return [http, thread];
}

const raw = (fieldsToUpdate: string, entityType = 'account', ids = '["a1"]', accountId = '"acme"') =>
  `{"accountId":${accountId},"entityType":"${entityType}","entityIds":${ids},"fieldsToUpdate":${fieldsToUpdate}}`;

describe('the issue\'s examples, each refused with 400 and its field', () => {
  it.each(['9007199254740993', '12345678901234567890', '1e21'])('employees: %s (was stored rounded)', async (literal) => {
    await setUp();
    const answers = await bothPaths(raw(`{"employees":${literal}}`));
    expect(answers).toEqual([0, 1].map(() => ({ code: 'UNREPRESENTABLE_NUMBER', field: 'fieldsToUpdate.employees' })));
    expect(await listTotal(t.app)).toBe(0);
  });

  it('unpaired surrogates in entity IDs and in accountId (were stored as U+FFFD; a different request was then a 409)', async () => {
    await setUp();
    const ids = (a: string, b: string) => raw('{"status":"customer"}', 'contact', `["ls-\\u${a}","ls-\\u${b}"]`);
    for (const body of [ids('d800', 'dc00'), ids('d801', 'dc01')]) {
      expect(await bothPaths(body)).toEqual([0, 1].map(() => ({ code: 'INVALID_STRING', field: 'entityIds[0]' })));
    }
    const account = raw('{"status":"customer"}', 'contact', '["c1"]', '"demo\\ud800"');
    expect(await bothPaths(account)).toEqual([0, 1].map(() => ({ code: 'INVALID_STRING', field: 'accountId' })));
    // A well-formed pair (an astral character) is fine.
    expect(await bothPaths(ids('d83d\\ude00', 'd83d\\ude01'))).toEqual([0, 1].map(() => ({ code: null, field: undefined })));
    expect(await listTotal(t.app)).toBe(2);
  });
});

describe('the whole kind', () => {
  it.each([
    ['a literal with more digits than a double holds', '{"employees":1.00000000000000001}', 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.employees'],
    ['the decimal text of 0.1\'s double', '{"name":"x","employees":0.1000000000000000055511151231257827}', 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.employees'],
    ['-0 (given back as 0)', '{"employees":-0}', 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.employees'],
    ['a number past a double (Infinity)', '{"employees":1e400}', 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.employees'],
    ['2^53, the first integer a double rounds its neighbours to', '{"employees":9007199254740992}', 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.employees'],
    ['NUL in a field value', '{"name":"a\\u0000b"}', 'INVALID_STRING', 'fieldsToUpdate.name'],
    ['a lone surrogate in a field value', '{"name":"\\udfff"}', 'INVALID_STRING', 'fieldsToUpdate.name'],
  ])('%s', async (_name, fields, code, field) => {
    await setUp();
    expect(await bothPaths(raw(fields))).toEqual([0, 1].map(() => ({ code, field })));
    expect(await listTotal(t.app)).toBe(0);
  });

  it('NUL in an entity ID or the account, and a number where a string belongs, whatever its digits', async () => {
    await setUp();
    expect(await bothPaths(raw('{"status":"active"}', 'account', '["a1","a\\u0000"]'))).toEqual([0, 1].map(() => ({ code: 'INVALID_STRING', field: 'entityIds[1]' })));
    expect(await bothPaths(raw('{"status":"active"}', 'account', '["a1"]', '"ac\\u0000me"'))).toEqual([0, 1].map(() => ({ code: 'INVALID_STRING', field: 'accountId' })));
    expect(await bothPaths(raw('{"status":"active"}', 'account', '["a1",1e999]'))).toEqual([0, 1].map(() => ({ code: 'UNREPRESENTABLE_NUMBER', field: 'entityIds[1]' })));
  });

  it('a body whose bytes are not UTF-8 (a lenient decoder made them U+FFFD)', async () => {
    await setUp();
    const text = raw('{"name":"XX"}');
    const bytes = Buffer.from(text);
    bytes[text.indexOf('XX')] = 0xff;
    expect(await bothPaths(bytes)).toEqual([0, 1].map(() => ({ code: 'INVALID_UTF8', field: undefined })));
    // A UTF-8 encoded surrogate (CESU-8) is not UTF-8 either.
    const cesu = Buffer.concat([Buffer.from(text.slice(0, text.indexOf('XX'))), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(text.slice(text.indexOf('XX') + 2))]);
    expect(await bothPaths(cesu)).toEqual([0, 1].map(() => ({ code: 'INVALID_UTF8', field: undefined })));
  });

  it('a body nested 100,000 deep is refused with the field, not a crash; at the top it is not an object', async () => {
    await setUp();
    const deep = '['.repeat(100_000) + '"x"' + ']'.repeat(100_000);
    expect(await bothPaths(raw(`{"name":${deep}}`))).toEqual([0, 1].map(() => ({ code: 'INVALID_UPDATE_VALUE', field: 'fieldsToUpdate.name' })));
    const deepNumber = '['.repeat(100_000) + '1.00000000000000001' + ']'.repeat(100_000);
    const [http] = await bothPaths(raw(`{"name":${deepNumber}}`));
    expect(http!.code).toBe('UNREPRESENTABLE_NUMBER');
    expect(await bothPaths(deep)).toEqual([0, 1].map(() => ({ code: 'INVALID_BODY', field: undefined })));
  });

  it('query parameters and URL params: NUL and over-long values are 400 with the parameter', async () => {
    await setUp();
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions?accountId=ac%00me' }), 400, 'INVALID_QUERY', 'accountId');
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions?entityType=%00' }), 400, 'INVALID_QUERY', 'entityType');
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/entities/contact/c%001?accountId=acme' }), 400, 'INVALID_FIELD', 'id');
    expectApiError(await t.app.inject({ method: 'GET', url: `/api/entities/contact/${'c'.repeat(257)}?accountId=acme` }), 400, 'INVALID_FIELD', 'id');
    // An action id that cannot exist is a 404, as any id that names no action (read.test.ts: an over-long one).
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions/a%00b' }), 404, 'ACTION_NOT_FOUND', null);
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions/a%00b/stats' }), 404, 'ACTION_NOT_FOUND', null);
    // A malformed or non-UTF-8 percent escape was kept as literal text ("%FF"), not what was meant.
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions?accountId=%FF' }), 400, 'INVALID_QUERY', 'accountId');
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions?status=%ED%A0%80' }), 400, 'INVALID_QUERY', 'status');
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions?page=1&limit=%2' }), 400, 'INVALID_QUERY', 'limit');
    // At the limit it is a lookup like any other.
    expectApiError(await t.app.inject({ method: 'GET', url: `/api/entities/contact/${'c'.repeat(256)}?accountId=acme` }), 404, 'ENTITY_NOT_FOUND', null);
  });
});

describe('what is accepted comes back exactly', () => {
  it('2^53 - 1, and text with astral characters, are stored and read back as sent; a decimal that round-trips is accepted', async () => {
    await setUp({ WORKER_THREADS: '0' });
    await seed(t, 'account', 'acme', { a1: { name: 'Old', employees: 1, status: 'active' } });
    const text = raw('{"employees":9007199254740991,"name":"Zoë 😀 \\ud83d\\ude00"}');
    const res = await postRaw(t.app, '/api/bulk-actions', text);
    expect(res.statusCode, res.body).toBe(202);
    await t.startWorkers();
    await waitForAction(t.platform, res.json().id);
    const { status, body } = await getJson(t.app, '/api/entities/account/a1?accountId=acme');
    expect(status).toBe(200);
    expect(body.employees).toBe(Number.MAX_SAFE_INTEGER);
    expect(body.name).toBe('Zoë 😀 😀');
    // A literal whose double gives back the same number is not refused: 1.50e1 is 15.
    const product = await postRaw(t.app, '/api/bulk-actions', raw('{"employees":1.50e1}'));
    expect(product.statusCode, product.body).toBe(202);
  });
});

/**
 * Distributed mode, against FerretDB on PostgreSQL, which fails a whole insert or query that holds
 * U+0000 ("unsupported Unicode escape sequence") and stores a lone surrogate as U+FFFD: what would
 * have been a 500, or a changed value, is a 400 before the store is asked.
 */
describeWithServices('exact values, distributed', ['mongodb', 'rabbitmq'], () => {
  const database = uniqueName('exact');
  const queue = uniqueName('exact');
  afterEach(async () => {
    await closeAll();
    await dropDatabases(services.mongodbUrl!, [database]);
    await deleteQueues(services.rabbitmqUrl!, [queue]);
  });

  it('refuses NUL and lone surrogates in creates, lookups and filters with 400 (an action id: 404), not 500', async () => {
    t = opened = await makeTestPlatform({ ...distributedEnv(database, queue), DUPLICATE_WINDOW_SECONDS: '0' });
    expectApiError(await postRaw(t.app, '/api/bulk-actions', raw('{"status":"customer"}', 'contact', '["c1","c\\u0000"]')), 400, 'INVALID_STRING', 'entityIds[1]');
    expectApiError(await postRaw(t.app, '/api/bulk-actions', raw('{"name":"a\\u0000"}')), 400, 'INVALID_STRING', 'fieldsToUpdate.name');
    expectApiError(await postRaw(t.app, '/api/bulk-actions', raw('{"name":"a\\ud800"}')), 400, 'INVALID_STRING', 'fieldsToUpdate.name');
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions/a%00b' }), 404, 'ACTION_NOT_FOUND', null);
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions/a%00b/logs' }), 404, 'ACTION_NOT_FOUND', null);
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions/a%00b/stats' }), 404, 'ACTION_NOT_FOUND', null);
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/entities/contact/c%00?accountId=acme' }), 400, 'INVALID_FIELD', 'id');
    expectApiError(await t.app.inject({ method: 'GET', url: '/api/bulk-actions?accountId=a%00' }), 400, 'INVALID_QUERY', 'accountId');
    expect(await listTotal(t.app)).toBe(0);
    // What is well-formed still goes through.
    expect((await postRaw(t.app, '/api/bulk-actions', raw('{"name":"Zoë 😀"}'))).statusCode).toBe(202);
  });
});
