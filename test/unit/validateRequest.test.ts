import { describe, it, expect } from 'vitest';
import { firstInexactNumber } from '../../src/actions/exactJson';
import { numberLiteralProblem } from '../../src/actions/exactValues';
import { validateCreateRequest } from '../../src/actions/validateRequest';
import { ApiError, type ApiErrorCode } from '../../src/errors';
import type { EntitySchema } from '../../src/handlers/fieldSchema';
import { handlers, type HandlerRegistry } from '../../src/handlers/index';
import { NoteHandler } from '../support/apiHelpers';

const limits = { maxEntityIds: 1_000_000, maxEntityIdLength: 256, maxFieldNameLength: 128, maxUpdateFields: 100, maxFieldStringLength: 10_000, maxFieldArrayItems: 1_000 };

function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { accountId: 'acct-1', entityType: 'contact', entityIds: ['c1', 'c2'], fieldsToUpdate: { status: 'customer' }, ...overrides };
}

function rejection(input: unknown, registry: HandlerRegistry = handlers, max = limits.maxEntityIds): ApiError {
  try {
    validateCreateRequest(input, registry, { ...limits, maxEntityIds: max });
  } catch (thrown) {
    if (thrown instanceof ApiError) return thrown;
    throw thrown;
  }
  throw new Error('expected the request to be rejected');
}

function expectRejected(input: unknown, code: ApiErrorCode, field: string | undefined, registry?: HandlerRegistry): ApiError {
  const error = rejection(input, registry);
  expect(error.code).toBe(code);
  expect(error.details.field).toBe(field);
  return error;
}

const seedRegistry: HandlerRegistry = { note: new NoteHandler() };

class SchemaNoteHandler extends NoteHandler {
  override readonly fields: EntitySchema = { body: { type: 'string' }, author: { type: 'string', readOnly: true } };
}

/** Seed-style, but with a dedupe key: lets a test clear the key (contacts' email is not nullable). */
class KeyedNoteHandler extends NoteHandler {
  override readonly dedupeKey = 'email';
}

describe('validateCreateRequest', () => {
  it('returns a valid request typed, with scheduledAt null', () => {
    const result = validateCreateRequest(body({ scheduledAt: null }), handlers, limits);
    expect(result).toEqual({
      accountId: 'acct-1',
      entityType: 'contact',
      entityIds: ['c1', 'c2'],
      fieldsToUpdate: { status: 'customer' },
      scheduledAt: null,
    });
  });

  it('returns a copy of fieldsToUpdate, not the caller object', () => {
    const tags = ['a', 'b'];
    const fields = { tags };
    const result = validateCreateRequest(body({ fieldsToUpdate: fields }), handlers, limits);
    expect(result.fieldsToUpdate).not.toBe(fields);
    expect(result.fieldsToUpdate.tags).not.toBe(tags);
    expect(result.fieldsToUpdate).toEqual({ tags: ['a', 'b'] });
    expect(Object.getPrototypeOf(result.fieldsToUpdate)).toBe(Object.prototype);
  });

  it('rejects a body that is not a plain object', () => {
    for (const input of [null, [], 'text', 42, undefined]) {
      expect(rejection(input).code).toBe('INVALID_BODY');
    }
  });

  it('rejects unknown top-level keys, naming them', () => {
    const input = { ...body(), fieldToUpdate: { status: 'lead' } };
    const error = expectRejected(input, 'INVALID_FIELD', 'fieldToUpdate');
    expect(error.details.unknown).toEqual(['fieldToUpdate']);
  });

  it('rejects a top-level "__proto__" key from JSON.parse', () => {
    const input: unknown = JSON.parse('{"__proto__": {"x": 1}, "accountId": "a"}');
    expectRejected(input, 'INVALID_FIELD', '__proto__');
  });

  it('requires accountId', () => {
    const { accountId: _omit, ...rest } = body();
    expectRejected(rest, 'MISSING_FIELD', 'accountId');
  });

  it('rejects an accountId that is empty, too long or not a string', () => {
    expectRejected(body({ accountId: '' }), 'INVALID_FIELD', 'accountId');
    expectRejected(body({ accountId: 'a'.repeat(129) }), 'INVALID_FIELD', 'accountId');
    expectRejected(body({ accountId: 7 }), 'INVALID_FIELD', 'accountId');
    expect(validateCreateRequest(body({ accountId: 'a'.repeat(128) }), handlers, limits).accountId).toHaveLength(128);
  });

  it('requires entityType', () => {
    const { entityType: _omit, ...rest } = body();
    expectRejected(rest, 'MISSING_FIELD', 'entityType');
  });

  /** A name built to be absent from `registry`, so registering any new type cannot make it valid. */
  function unregisteredName(registry: HandlerRegistry): string {
    let name = 'unregistered';
    while (Object.hasOwn(registry, name)) name += '-x';
    return name;
  }

  it.each([
    ['the built-in registry', handlers],
    ['a registry with one more type', { ...handlers, note: new SchemaNoteHandler() }],
  ])('rejects an unregistered entityType, listing the registered ones (%s)', (_label, registry: HandlerRegistry) => {
    const error = expectRejected(body({ entityType: unregisteredName(registry) }), 'UNKNOWN_ENTITY_TYPE', 'entityType', registry);
    expect(error.details.allowed).toEqual(Object.keys(registry));
    // The registry's own types stay accepted, an extra one included.
    if (Object.hasOwn(registry, 'note')) {
      expect(validateCreateRequest(body({ entityType: 'note', fieldsToUpdate: { body: 'x' } }), registry, limits).entityType).toBe('note');
    }
    expect(validateCreateRequest(body(), registry, limits).entityType).toBe('contact');
  });

  it('does not treat inherited names as entity types', () => {
    expectRejected(body({ entityType: 'toString' }), 'UNKNOWN_ENTITY_TYPE', 'entityType');
    expectRejected(body({ entityType: 3 }), 'INVALID_FIELD', 'entityType');
  });

  it('requires entityIds', () => {
    const { entityIds: _omit, ...rest } = body();
    expectRejected(rest, 'MISSING_FIELD', 'entityIds');
  });

  it('rejects entityIds that is not a non-empty array', () => {
    expectRejected(body({ entityIds: [] }), 'INVALID_ENTITY_IDS', 'entityIds');
    expectRejected(body({ entityIds: 'c1' }), 'INVALID_ENTITY_IDS', 'entityIds');
  });

  it('names the first bad entity ID by index', () => {
    expectRejected(body({ entityIds: ['c1', 'c2', 'c3', 4, ''] }), 'INVALID_ENTITY_IDS', 'entityIds[3]');
    expectRejected(body({ entityIds: ['c1', ''] }), 'INVALID_ENTITY_IDS', 'entityIds[1]');
    expectRejected(body({ entityIds: ['x'.repeat(257)] }), 'INVALID_ENTITY_IDS', 'entityIds[0]');
    expectRejected(body({ entityIds: [null] }), 'INVALID_ENTITY_IDS', 'entityIds[0]');
  });

  it('accepts 1,000,000 entity IDs and rejects 1,000,001', () => {
    const ids = Array.from({ length: 1_000_000 }, (_, i) => `id-${i}`);
    const result = validateCreateRequest(body({ entityIds: ids }), handlers, limits);
    expect(result.entityIds).toHaveLength(1_000_000);
    ids.push('one-too-many');
    const error = expectRejected(body({ entityIds: ids }), 'TOO_MANY_ENTITY_IDS', 'entityIds');
    expect(error.details.max).toBe(1_000_000);
    expect(error.details.received).toBe(1_000_001);
  });

  it('requires fieldsToUpdate', () => {
    const { fieldsToUpdate: _omit, ...rest } = body();
    expectRejected(rest, 'MISSING_FIELD', 'fieldsToUpdate');
  });

  it('rejects fieldsToUpdate that is not an object', () => {
    expectRejected(body({ fieldsToUpdate: ['status'] }), 'INVALID_FIELD', 'fieldsToUpdate');
    expectRejected(body({ fieldsToUpdate: null }), 'INVALID_FIELD', 'fieldsToUpdate');
  });

  it('rejects an empty fieldsToUpdate', () => {
    expectRejected(body({ fieldsToUpdate: {} }), 'EMPTY_UPDATE', 'fieldsToUpdate');
  });

  it('rejects "__proto__" in fieldsToUpdate as parsed by JSON.parse', () => {
    const fieldsToUpdate: unknown = JSON.parse('{"__proto__": 1}');
    expect(Object.keys(fieldsToUpdate as object)).toEqual(['__proto__']);
    expectRejected(body({ fieldsToUpdate }), 'RESERVED_FIELD', 'fieldsToUpdate.__proto__');
  });

  it('rejects reserved and operator-like field names', () => {
    for (const name of ['constructor', 'prototype', 'id', '_id', 'accountId', 'createdAt', 'updatedAt', '$set', 'a.b']) {
      expectRejected(body({ fieldsToUpdate: { [name]: 'x' } }), 'RESERVED_FIELD', `fieldsToUpdate.${name}`);
    }
  });

  it('rejects a field the schema does not declare, listing the updatable ones', () => {
    const error = expectRejected(body({ entityType: 'lead', fieldsToUpdate: { rating: 5 } }), 'UNKNOWN_UPDATE_FIELD', 'fieldsToUpdate.rating');
    expect(error.details.allowed).toEqual(['name', 'email', 'source', 'status', 'score']);
  });

  it('rejects a read-only field and leaves it out of the allowed list', () => {
    const registry: HandlerRegistry = { note: new SchemaNoteHandler() };
    expectRejected(body({ entityType: 'note', fieldsToUpdate: { author: 'x' } }), 'READ_ONLY_FIELD', 'fieldsToUpdate.author', registry);
    const error = expectRejected(body({ entityType: 'note', fieldsToUpdate: { title: 'x' } }), 'UNKNOWN_UPDATE_FIELD', 'fieldsToUpdate.title', registry);
    expect(error.details.allowed).toEqual(['body']);
  });

  it('rejects a value that does not fit the field schema, with the reason', () => {
    const error = expectRejected(body({ entityType: 'lead', fieldsToUpdate: { score: 101 } }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.score');
    expect(error.details.reason).toBe('must be at most 100');
    const enumError = expectRejected(body({ fieldsToUpdate: { status: 'vip' } }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.status');
    expect(enumError.details.reason).toBe('must be one of lead, prospect, customer, churned');
    expectRejected(body({ entityType: 'product', fieldsToUpdate: { price: { amount: 1 } } }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.price');
  });

  it('accepts any safe JSON scalar or string[] for a handler without a schema', () => {
    const fieldsToUpdate = { text: 'hi', count: 3, pinned: false, archivedAt: null, labels: ['a'] };
    const result = validateCreateRequest({ accountId: 'a', entityType: 'note', entityIds: ['n1'], fieldsToUpdate }, seedRegistry, limits);
    expect(result.fieldsToUpdate).toEqual(fieldsToUpdate);
  });

  it('rejects other values for a handler without a schema, and still guards reserved names', () => {
    const request = (fieldsToUpdate: unknown) => ({ accountId: 'a', entityType: 'note', entityIds: ['n1'], fieldsToUpdate });
    expectRejected(request({ meta: { nested: true } }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.meta', seedRegistry);
    expectRejected(request({ labels: ['a', 1] }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.labels', seedRegistry);
    expectRejected(request(JSON.parse('{"__proto__": "x"}')), 'RESERVED_FIELD', 'fieldsToUpdate.__proto__', seedRegistry);
    expectRejected(request({ $inc: 1 }), 'RESERVED_FIELD', 'fieldsToUpdate.$inc', seedRegistry);
  });

  it('rejects setting the dedupe key on more than one distinct entity', () => {
    expectRejected(body({ fieldsToUpdate: { email: 'a@b.co' } }), 'DEDUPE_KEY_CONFLICT', 'fieldsToUpdate.email');
  });

  it('allows the dedupe key for one distinct entity, even repeated, and allows clearing it', () => {
    const one = validateCreateRequest(body({ entityIds: ['c1', 'c1'], fieldsToUpdate: { email: 'a@b.co' } }), handlers, limits);
    expect(one.fieldsToUpdate).toEqual({ email: 'a@b.co' });
    const registry: HandlerRegistry = { note: new KeyedNoteHandler() };
    const cleared = validateCreateRequest({ accountId: 'a', entityType: 'note', entityIds: ['n1', 'n2'], fieldsToUpdate: { email: null } }, registry, limits);
    expect(cleared.fieldsToUpdate).toEqual({ email: null });
    expectRejected({ accountId: 'a', entityType: 'note', entityIds: ['n1', 'n2'], fieldsToUpdate: { email: 'x' } }, 'DEDUPE_KEY_CONFLICT', 'fieldsToUpdate.email', registry);
  });

  it('rejects a non-null scheduledAt until scheduling lands', () => {
    expectRejected(body({ scheduledAt: '2030-01-01T00:00:00Z' }), 'SCHEDULING_NOT_SUPPORTED', 'scheduledAt');
  });
});

describe('values the stores could not give back exactly', () => {
  it('refuses unsafe, non-finite and -0 numbers, lone surrogates and NUL, wherever they are accepted', () => {
    const seedStyle = (fieldsToUpdate: unknown) => ({ accountId: 'a', entityType: 'note', entityIds: ['n1'], fieldsToUpdate });
    expectRejected(body({ entityType: 'account', fieldsToUpdate: { employees: 2 ** 53 } }), 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.employees');
    expectRejected(seedStyle({ n: -(2 ** 53) }), 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.n', seedRegistry);
    expectRejected(seedStyle({ n: -0 }), 'UNREPRESENTABLE_NUMBER', 'fieldsToUpdate.n', seedRegistry);
    expectRejected(seedStyle({ n: Infinity }), 'INVALID_UPDATE_VALUE', 'fieldsToUpdate.n', seedRegistry);
    expectRejected(seedStyle({ s: 'a\ud800' }), 'INVALID_STRING', 'fieldsToUpdate.s', seedRegistry);
    expectRejected(seedStyle({ l: ['ok', '\udc00'] }), 'INVALID_STRING', 'fieldsToUpdate.l[1]', seedRegistry);
    expectRejected(seedStyle({ 'k\ud800': 1 }), 'INVALID_STRING', 'fieldsToUpdate.k\ud800', seedRegistry);
    expectRejected(body({ accountId: 'a\0' }), 'INVALID_STRING', 'accountId');
    expectRejected(body({ entityIds: ['c1', 'c\0'] }), 'INVALID_STRING', 'entityIds[1]');
    expect(validateCreateRequest(seedStyle({ n: Number.MAX_SAFE_INTEGER, m: -Number.MAX_SAFE_INTEGER, s: '😀' }), seedRegistry, limits).fieldsToUpdate)
      .toEqual({ n: Number.MAX_SAFE_INTEGER, m: -Number.MAX_SAFE_INTEGER, s: '😀' });
  });
});

describe('numberLiteralProblem (lossless-json isSafeNumber semantics)', () => {
  it.each(['0', '0.1', '1.50', '1e2', '1E+2', '-5', '0e5', '9007199254740991', '-9007199254740991', '0.30000000000000004', '2.5e-7', '123456789012345.6'])(
    'accepts %s: its double gives back the same number',
    (literal) => expect(numberLiteralProblem(literal)).toBeNull(),
  );
  it.each(['1.00000000000000001', '0.1000000000000000055511151231257827', '1e-400', '9007199254740992', '12345678901234567890', '1e21', '1e400', '-0', '-0.0e3'])(
    'refuses %s',
    (literal) => expect(numberLiteralProblem(literal)).not.toBeNull(),
  );
});

describe('firstInexactNumber', () => {
  it('names the path of the first inexact literal, skipping strings (escaped quotes included) and keys', () => {
    const text = '{"a\\"":"x\\",1.00000000000000001","k\\u00e9":{"ids":[1,"2",[true,null,-0]]},"z":1.00000000000000001}';
    expect(JSON.parse(text)).toBeTruthy();
    expect(firstInexactNumber(text)).toEqual({ path: 'ké.ids[2][2]', literal: '-0', problem: expect.any(String) });
    expect(firstInexactNumber('{"a":[1.5,2e3,"1e999"]}')).toBeNull();
  });
});
