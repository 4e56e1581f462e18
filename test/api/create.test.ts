import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiErrorCode } from '../../src/errors';
import {
  createAction,
  createBody,
  expectApiError,
  expectIsoString,
  getJson,
  listTotal,
  postJson,
  postRaw,
  registryWithTicket,
  type Json,
} from '../support/apiHelpers';
import { makeTestPlatform, type TestPlatform } from '../support/testPlatform';

/** POST /api/bulk-actions and POST /api/bulk-actions/:entityType: what is accepted and every way to be rejected. */

let t: TestPlatform;
afterEach(async () => t.close());

const tenIds = Array.from({ length: 10 }, (_, i) => `c${i}`);

describe('POST /api/bulk-actions: accepted', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({ MAX_ENTITY_IDS: '10' });
  });

  it('answers 202 with the PENDING action and a Location header, and stores it', async () => {
    const res = await createAction(t.app, createBody({ entityIds: ['c1', 'c2', 'c1'] }));
    expect(res.statusCode).toBe(202);
    const body = res.json() as Json;
    const id = body.id as string;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(res.headers.location).toBe(`/api/bulk-actions/${id}`);
    expectIsoString(body.createdAt);
    expect(body).toEqual({
      id,
      accountId: 'acme',
      entityType: 'contact',
      status: 'PENDING',
      fieldsToUpdate: { status: 'customer' },
      totalEntities: 3,
      createdAt: body.createdAt,
      scheduledAt: null,
      startedAt: null,
      completedAt: null,
      progress: { processed: 0, succeeded: 0, failed: 0, skipped: 0 },
    });

    const stored = await getJson(t.app, res.headers.location as string);
    expect(stored.status).toBe(200);
    expect(stored.body.id).toBe(id);
    expect(stored.body.status).toBe('PENDING');
    expect(await listTotal(t.app)).toBe(1);
  });

  it('accepts scheduledAt: null', async () => {
    const res = await createAction(t.app, createBody({ scheduledAt: null }));
    expect(res.statusCode).toBe(202);
    expect(res.json().scheduledAt).toBe(null);
  });

  it('accepts exactly MAX_ENTITY_IDS IDs', async () => {
    const res = await createAction(t.app, createBody({ entityIds: tenIds }));
    expect(res.statusCode).toBe(202);
    expect(res.json().totalEntities).toBe(10);
  });

  it('accepts a content-type with a charset parameter', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/bulk-actions',
      payload: JSON.stringify(createBody()),
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(res.statusCode).toBe(202);
  });

  it.each([
    { entityType: 'contact', ids: ['c1'] },
    { entityType: 'contact', ids: ['c1', 'c1'] },
    { entityType: 'lead', ids: ['l1'] },
  ])('accepts setting the de-dup key of a single $entityType ($ids)', async ({ entityType, ids }) => {
    const res = await createAction(t.app, createBody({ entityType, entityIds: ids, fieldsToUpdate: { email: 'new@x.io' } }));
    expect(res.statusCode).toBe(202);
  });

  it.each([
    { entityType: 'contact', fieldsToUpdate: { status: 'customer', tags: ['vip'] } },
    { entityType: 'lead', fieldsToUpdate: { status: 'contacted', score: 70 } },
    { entityType: 'account', fieldsToUpdate: { industry: 'Retail', employees: 12 } },
    { entityType: 'product', fieldsToUpdate: { price: 9.5, currency: 'EUR' } },
  ])('POST /api/bulk-actions/$entityType creates an action of that type', async ({ entityType, fieldsToUpdate }) => {
    const res = await postJson(t.app, `/api/bulk-actions/${entityType}`, { accountId: 'acme', entityIds: ['x1', 'x2'], fieldsToUpdate });
    expect(res.statusCode).toBe(202);
    const body = res.json() as Json;
    expect(res.headers.location).toBe(`/api/bulk-actions/${body.id as string}`);
    expect(body.entityType).toBe(entityType);
    expect(body.status).toBe('PENDING');
    expect(body.fieldsToUpdate).toEqual(fieldsToUpdate);
    expect(body.totalEntities).toBe(2);
  });
});

interface Rejection {
  name: string;
  body: Json;
  code: ApiErrorCode;
  field: string;
}

/** Top-level shape of the body: accountId, entityType, entityIds, fieldsToUpdate, scheduledAt. */
const shapeRejections: Rejection[] = [
  { name: 'accountId missing', body: createBody({ accountId: undefined }), code: 'MISSING_FIELD', field: 'accountId' },
  { name: 'accountId empty', body: createBody({ accountId: '' }), code: 'INVALID_FIELD', field: 'accountId' },
  { name: 'accountId a number', body: createBody({ accountId: 42 }), code: 'INVALID_FIELD', field: 'accountId' },
  { name: 'accountId null', body: createBody({ accountId: null }), code: 'INVALID_FIELD', field: 'accountId' },
  { name: 'entityType missing', body: createBody({ entityType: undefined }), code: 'MISSING_FIELD', field: 'entityType' },
  { name: 'entityType unregistered', body: createBody({ entityType: 'widget' }), code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
  { name: 'entityType in the wrong case', body: createBody({ entityType: 'Contact' }), code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
  { name: 'entityType __proto__', body: createBody({ entityType: '__proto__' }), code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
  { name: 'entityType constructor', body: createBody({ entityType: 'constructor' }), code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
  { name: 'entityType toString', body: createBody({ entityType: 'toString' }), code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
  { name: 'entityType a number', body: createBody({ entityType: 1 }), code: 'INVALID_FIELD', field: 'entityType' },
  { name: 'entityIds missing', body: createBody({ entityIds: undefined }), code: 'MISSING_FIELD', field: 'entityIds' },
  { name: 'entityIds empty', body: createBody({ entityIds: [] }), code: 'INVALID_ENTITY_IDS', field: 'entityIds' },
  { name: 'entityIds a string', body: createBody({ entityIds: 'c1' }), code: 'INVALID_ENTITY_IDS', field: 'entityIds' },
  { name: 'entityIds an object', body: createBody({ entityIds: { 0: 'c1' } }), code: 'INVALID_ENTITY_IDS', field: 'entityIds' },
  { name: 'entityIds null', body: createBody({ entityIds: null }), code: 'INVALID_ENTITY_IDS', field: 'entityIds' },
  { name: 'an entity ID a number', body: createBody({ entityIds: ['c1', 2] }), code: 'INVALID_ENTITY_IDS', field: 'entityIds[1]' },
  { name: 'an entity ID null', body: createBody({ entityIds: ['c1', 'c2', null] }), code: 'INVALID_ENTITY_IDS', field: 'entityIds[2]' },
  { name: 'an entity ID empty', body: createBody({ entityIds: [''] }), code: 'INVALID_ENTITY_IDS', field: 'entityIds[0]' },
  { name: 'an entity ID an array', body: createBody({ entityIds: [['c1']] }), code: 'INVALID_ENTITY_IDS', field: 'entityIds[0]' },
  { name: 'more than MAX_ENTITY_IDS IDs', body: createBody({ entityIds: [...tenIds, 'c10'] }), code: 'TOO_MANY_ENTITY_IDS', field: 'entityIds' },
  { name: 'fieldsToUpdate missing', body: createBody({ fieldsToUpdate: undefined }), code: 'MISSING_FIELD', field: 'fieldsToUpdate' },
  { name: 'fieldsToUpdate empty', body: createBody({ fieldsToUpdate: {} }), code: 'EMPTY_UPDATE', field: 'fieldsToUpdate' },
  { name: 'fieldsToUpdate an array', body: createBody({ fieldsToUpdate: [{ status: 'lead' }] }), code: 'INVALID_FIELD', field: 'fieldsToUpdate' },
  { name: 'fieldsToUpdate a string', body: createBody({ fieldsToUpdate: 'status=lead' }), code: 'INVALID_FIELD', field: 'fieldsToUpdate' },
  { name: 'fieldsToUpdate null', body: createBody({ fieldsToUpdate: null }), code: 'INVALID_FIELD', field: 'fieldsToUpdate' },
  {
    name: 'an unknown top-level key (typo)',
    body: createBody({ fieldsToUpdate: undefined, fieldToUpdate: { status: 'lead' } }),
    code: 'INVALID_FIELD',
    field: 'fieldToUpdate',
  },
  { name: 'scheduledAt an ISO time', body: createBody({ scheduledAt: '2030-01-01T00:00:00.000Z' }), code: 'SCHEDULING_NOT_SUPPORTED', field: 'scheduledAt' },
  { name: 'scheduledAt 0', body: createBody({ scheduledAt: 0 }), code: 'SCHEDULING_NOT_SUPPORTED', field: 'scheduledAt' },
];

interface FieldRejection {
  entityType: string;
  fieldsToUpdate: Json;
  code: ApiErrorCode;
  field: string;
}

const unknownFields: FieldRejection[] = [
  { entityType: 'contact', fieldsToUpdate: { nickname: 'Bo' }, code: 'UNKNOWN_UPDATE_FIELD', field: 'fieldsToUpdate.nickname' },
  { entityType: 'contact', fieldsToUpdate: { status: 'lead', Email: 'a@x.io' }, code: 'UNKNOWN_UPDATE_FIELD', field: 'fieldsToUpdate.Email' },
  { entityType: 'lead', fieldsToUpdate: { tags: ['hot'] }, code: 'UNKNOWN_UPDATE_FIELD', field: 'fieldsToUpdate.tags' },
  { entityType: 'account', fieldsToUpdate: { email: 'a@x.io' }, code: 'UNKNOWN_UPDATE_FIELD', field: 'fieldsToUpdate.email' },
  { entityType: 'product', fieldsToUpdate: { status: 'active' }, code: 'UNKNOWN_UPDATE_FIELD', field: 'fieldsToUpdate.status' },
];

const wrongValues: FieldRejection[] = (
  [
    ['contact', 'status', 'vip'],
    ['contact', 'status', { $ne: 'lead' }],
    ['contact', 'email', 'not-an-email'],
    ['contact', 'email', 42],
    ['contact', 'email', null],
    ['contact', 'firstName', null],
    ['contact', 'firstName', 'x'.repeat(201)],
    ['contact', 'tags', 'vip'],
    ['contact', 'tags', ['vip', 1]],
    ['contact', 'phone', 5551234],
    ['lead', 'score', 50.5],
    ['lead', 'score', 101],
    ['lead', 'score', -1],
    ['lead', 'score', '80'],
    ['lead', 'status', 'won'],
    ['account', 'employees', -5],
    ['account', 'employees', 10.5],
    ['account', 'domain', 'localhost'],
    ['account', 'status', true],
    ['product', 'price', -0.01],
    ['product', 'price', '9.99'],
    ['product', 'active', 'yes'],
    ['product', 'currency', 'usd'],
    ['product', 'sku', 'has space'],
  ] as const
).map(([entityType, name, value]) => ({
  entityType,
  fieldsToUpdate: { [name]: value },
  code: 'INVALID_UPDATE_VALUE' as const,
  field: `fieldsToUpdate.${name}`,
}));

const reservedNames = ['id', '_id', 'accountId', 'createdAt', 'updatedAt', 'constructor', 'prototype', '$set', '$where', 'address.city'];
const reservedFields: FieldRejection[] = [
  ...reservedNames.map((name) => ({ entityType: 'contact', name })),
  ...['lead', 'account', 'product'].flatMap((entityType) => ['id', '$inc', 'a.b'].map((name) => ({ entityType, name }))),
].map(({ entityType, name }) => ({
  entityType,
  fieldsToUpdate: { [name]: 'x' },
  code: 'RESERVED_FIELD' as const,
  field: `fieldsToUpdate.${name}`,
}));

const dedupeConflicts: FieldRejection[] = ['contact', 'lead'].map((entityType) => ({
  entityType,
  fieldsToUpdate: { email: 'same@x.io' },
  code: 'DEDUPE_KEY_CONFLICT' as const,
  field: 'fieldsToUpdate.email',
}));

describe('POST /api/bulk-actions: validation, before anything is stored', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({ MAX_ENTITY_IDS: '10' });
  });

  it.each(shapeRejections)('400 $code for $name', async ({ body, code, field }) => {
    expectApiError(await createAction(t.app, body), 400, code, field);
    expect(await listTotal(t.app)).toBe(0);
  });

  it.each([...unknownFields, ...wrongValues, ...reservedFields, ...dedupeConflicts])(
    '400 $code for $entityType $fieldsToUpdate',
    async ({ entityType, fieldsToUpdate, code, field }) => {
      const body = createBody({ entityType, entityIds: ['x1', 'x2'], fieldsToUpdate });
      expectApiError(await createAction(t.app, body), 400, code, field);
      expect(await listTotal(t.app)).toBe(0);
    },
  );

  it.each([
    {
      name: '"__proto__" in fieldsToUpdate',
      raw: '{"accountId":"acme","entityType":"contact","entityIds":["c1"],"fieldsToUpdate":{"__proto__":{"polluted":true}}}',
      code: 'RESERVED_FIELD',
      field: 'fieldsToUpdate.__proto__',
    },
    {
      name: '"__proto__" beside a valid field',
      raw: '{"accountId":"acme","entityType":"contact","entityIds":["c1"],"fieldsToUpdate":{"status":"lead","__proto__":{"status":"x"}}}',
      code: 'RESERVED_FIELD',
      field: 'fieldsToUpdate.__proto__',
    },
    {
      name: '"constructor.prototype" in fieldsToUpdate',
      raw: '{"accountId":"acme","entityType":"contact","entityIds":["c1"],"fieldsToUpdate":{"constructor":{"prototype":{"polluted":true}}}}',
      code: 'RESERVED_FIELD',
      field: 'fieldsToUpdate.constructor',
    },
    {
      name: 'a top-level "__proto__"',
      raw: '{"__proto__":{"polluted":true},"accountId":"acme","entityType":"contact","entityIds":["c1"],"fieldsToUpdate":{"status":"lead"}}',
      code: 'INVALID_FIELD',
      field: '__proto__',
    },
    {
      name: 'a top-level "constructor"',
      raw: '{"constructor":{"prototype":{"polluted":true}},"accountId":"acme","entityType":"contact","entityIds":["c1"],"fieldsToUpdate":{"status":"lead"}}',
      code: 'INVALID_FIELD',
      field: 'constructor',
    },
  ] as const)('400 $code for $name, and no prototype is polluted', async ({ raw, code, field }) => {
    expectApiError(await postRaw(t.app, '/api/bulk-actions', raw), 400, code, field);
    expect(({} as Json).polluted).toBe(undefined);
    expect(await listTotal(t.app)).toBe(0);
  });

  it('400 RESERVED_FIELD for a literal "__proto__" on POST /api/bulk-actions/:entityType', async () => {
    const raw = '{"accountId":"acme","entityIds":["c1"],"fieldsToUpdate":{"__proto__":{"polluted":true}}}';
    expectApiError(await postRaw(t.app, '/api/bulk-actions/contact', raw), 400, 'RESERVED_FIELD', 'fieldsToUpdate.__proto__');
    expect(({} as Json).polluted).toBe(undefined);
  });

  it('400 INVALID_FIELD for an Idempotency-Key longer than 200 characters', async () => {
    const res = await createAction(t.app, createBody(), { 'idempotency-key': 'k'.repeat(201) });
    expectApiError(res, 400, 'INVALID_FIELD', 'Idempotency-Key');
    expect(await listTotal(t.app)).toBe(0);
  });
});

describe('POST /api/bulk-actions/:entityType: validation', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({ MAX_ENTITY_IDS: '10' });
  });

  const typed = { accountId: 'acme', entityIds: ['c1', 'c2'], fieldsToUpdate: { status: 'customer' } };

  it.each([
    { name: 'an unregistered type in the URL', url: '/api/bulk-actions/widget', body: typed, code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
    { name: '__proto__ as the type', url: '/api/bulk-actions/__proto__', body: typed, code: 'UNKNOWN_ENTITY_TYPE', field: 'entityType' },
    { name: 'entityType also in the body', url: '/api/bulk-actions/contact', body: { ...typed, entityType: 'contact' }, code: 'INVALID_FIELD', field: 'entityType' },
    { name: 'accountId missing', url: '/api/bulk-actions/contact', body: { ...typed, accountId: undefined }, code: 'MISSING_FIELD', field: 'accountId' },
    { name: 'entityIds empty', url: '/api/bulk-actions/lead', body: { ...typed, entityIds: [] }, code: 'INVALID_ENTITY_IDS', field: 'entityIds' },
    { name: 'too many IDs', url: '/api/bulk-actions/account', body: { ...typed, entityIds: [...tenIds, 'c10'] }, code: 'TOO_MANY_ENTITY_IDS', field: 'entityIds' },
    { name: 'a field of another type', url: '/api/bulk-actions/product', body: typed, code: 'UNKNOWN_UPDATE_FIELD', field: 'fieldsToUpdate.status' },
    { name: 'a dedupe-key conflict', url: '/api/bulk-actions/lead', body: { ...typed, fieldsToUpdate: { email: 'a@x.io' } }, code: 'DEDUPE_KEY_CONFLICT', field: 'fieldsToUpdate.email' },
    { name: 'scheduledAt set', url: '/api/bulk-actions/contact', body: { ...typed, scheduledAt: '2030-01-01T00:00:00.000Z' }, code: 'SCHEDULING_NOT_SUPPORTED', field: 'scheduledAt' },
  ] as const)('400 $code for $name', async ({ url, body, code, field }) => {
    expectApiError(await postJson(t.app, url, body), 400, code, field);
    expect(await listTotal(t.app)).toBe(0);
  });
});

describe('POST /api/bulk-actions: read-only fields', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({}, { handlers: registryWithTicket });
  });

  it('400 READ_ONLY_FIELD for a field the type declares read-only', async () => {
    const res = await createAction(t.app, createBody({ entityType: 'ticket', fieldsToUpdate: { subject: 'Hi', ticketNo: 7 } }));
    expectApiError(res, 400, 'READ_ONLY_FIELD', 'fieldsToUpdate.ticketNo');
    expect(await listTotal(t.app)).toBe(0);
  });

  it('accepts the writable fields of the same type', async () => {
    const res = await createAction(t.app, createBody({ entityType: 'ticket', fieldsToUpdate: { subject: 'Hi' } }));
    expect(res.statusCode).toBe(202);
  });
});

describe('POST /api/bulk-actions: bodies that are not a JSON object', () => {
  beforeEach(async () => {
    t = await makeTestPlatform();
  });

  it.each([
    { name: 'malformed JSON', url: '/api/bulk-actions', raw: '{"accountId":', contentType: 'application/json', status: 400, code: 'INVALID_JSON' },
    { name: 'malformed JSON on the type route', url: '/api/bulk-actions/contact', raw: "{accountId:'acme'}", contentType: 'application/json', status: 400, code: 'INVALID_JSON' },
    { name: 'an empty JSON body', url: '/api/bulk-actions', raw: '', contentType: 'application/json', status: 400, code: 'INVALID_BODY' },
    { name: 'a JSON array', url: '/api/bulk-actions', raw: '[{"accountId":"acme"}]', contentType: 'application/json', status: 400, code: 'INVALID_BODY' },
    { name: 'a JSON string', url: '/api/bulk-actions', raw: '"hello"', contentType: 'application/json', status: 400, code: 'INVALID_BODY' },
    { name: 'JSON null on the type route', url: '/api/bulk-actions/contact', raw: 'null', contentType: 'application/json', status: 400, code: 'INVALID_BODY' },
    { name: 'text/plain', url: '/api/bulk-actions', raw: JSON.stringify(createBody()), contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'text/plain on the type route', url: '/api/bulk-actions/contact', raw: 'hello', contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
    { name: 'a form', url: '/api/bulk-actions', raw: 'accountId=acme', contentType: 'application/x-www-form-urlencoded', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  ] as const)('$status $code for $name', async ({ url, raw, contentType, status, code }) => {
    expectApiError(await postRaw(t.app, url, raw, contentType), status, code, null);
    expect(await listTotal(t.app)).toBe(0);
  });

  it('400 INVALID_JSON whose message stays well-formed when the parser quotes half of an astral character', async () => {
    const res = await postRaw(t.app, '/api/bulk-actions', '{"accountId":\u{20BB7}}');
    expectApiError(res, 400, 'INVALID_JSON', null);
    // V8 says "Unexpected token '\ud842'": a lone surrogate in an answer no client can decode exactly.
    expect((res.json() as { error: { message: string } }).error.message.isWellFormed()).toBe(true);
  });

  it('400 INVALID_BODY for a POST without a body', async () => {
    expectApiError(await t.app.inject({ method: 'POST', url: '/api/bulk-actions' }), 400, 'INVALID_BODY', null);
  });
});

describe('POST /api/bulk-actions: body size limit', () => {
  beforeEach(async () => {
    t = await makeTestPlatform({ BODY_LIMIT_BYTES: '2048' });
  });

  it.each(['/api/bulk-actions', '/api/bulk-actions/contact'])('413 PAYLOAD_TOO_LARGE on %s for a body over BODY_LIMIT_BYTES', async (url) => {
    const entityIds = Array.from({ length: 300 }, (_, i) => `contact-${i}`);
    const body = url.endsWith('/contact') ? { accountId: 'acme', entityIds, fieldsToUpdate: { status: 'lead' } } : createBody({ entityIds });
    expect(JSON.stringify(body).length).toBeGreaterThan(2048);
    expectApiError(await postJson(t.app, url, body), 413, 'PAYLOAD_TOO_LARGE', null);
    expect(await listTotal(t.app)).toBe(0);
  });

  it('accepts a body under the limit', async () => {
    expect((await createAction(t.app, createBody())).statusCode).toBe(202);
  });
});
