import fc from 'fast-check';
import type { RequestSchemas } from '../../src/actions/validateRequest';
import type { FieldSpec } from '../../src/handlers/fieldSchema';
import { obj, pathSegment, raw, str, type ByteDamage, type Doc, type Mutation } from '../fuzz/fuzzDoc';

/**
 * fast-check arbitraries for fuzzing POST /api/bulk-actions[/:entityType] (test/fuzz/): hostile
 * leaves and keys, any document, valid bodies, one mutation of a valid body, byte damage. Bodies
 * are `Doc` trees (test/fuzz/fuzzDoc.ts). Valid bodies come from each handler's declared `fields`,
 * so a new entity type is fuzzed too.
 */

// ---- leaves -----------------------------------------------------------------------------------

/** Well-formed text (any code point, never a lone surrogate). */
export const text = (minLength = 0, maxLength = 12) => fc.string({ unit: 'binary', minLength, maxLength });

const LONE = ['\ud800', '\udbff', '\udc00', '\udfff'];

/** Strings the platform could mangle or misread: lone surrogates, NUL, BOM, operator and prototype names, lengths at the limits. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('ls-\ud800', 'ls-\udc00', '\udc00\ud800', '\u0000', 'a\u0000b', '\ufeff', '\ufffd', '\u202e', 'e\u0301', '😀', '', ' ', '$set', '__proto__', 'a.b'),
  fc.tuple(text(0, 4), fc.constantFrom(...LONE, '\u0000'), text(0, 4)).map((parts) => parts.join('')),
  // Lengths around every limit a string meets (account 128, IDs 256, fields 50 to 1000); an astral
  // character counts two units, and cutting one in half leaves a lone surrogate at the end.
  fc
    .tuple(fc.constantFrom('a', 'é', '😀', '\u0000'), fc.constantFrom(64, 65, 100, 101, 127, 128, 129, 200, 201, 255, 256, 257, 320, 321, 1000, 1001))
    .map(([c, n]) => c.repeat(n).slice(0, n)),
);

/** Strings of 10k to 400k units: past every field limit, some past BODY_LIMIT_BYTES. */
export const hugeString = fc.tuple(fc.constantFrom('x', 'é', '😀'), fc.integer({ min: 10_000, max: 400_000 })).map(([c, n]) => c.repeat(n));

/** Number tokens at and past the exact range of a double, plus ordinary ones. */
export const numberToken: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '9007199254740991', '-9007199254740991', '9007199254740992', '-9007199254740992', '9007199254740993', '-9007199254740993',
    '12345678901234567890', '1e21', '1E21', '1e+21', '1e308', '1.7976931348623157e308', '1e309', '-1e309', '-0', '-0.0', '0.0',
    '5e-324', '1e-400', '0.1', '0.1000000000000000000001', '2.5e-8', '100.0', '1e2', '99.99999999999999999', '-1', '1.5', '0',
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
);

/** Raw UTF-8 errors: a stray byte, overlong NUL, encoded surrogates, past U+10FFFF, truncated sequences. */
export const invalidUtf8: fc.Arbitrary<readonly number[]> = fc.constantFrom<readonly number[]>(
  [0xff], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xb0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
);

/** A string literal holding an invalid UTF-8 sequence between well-formed text. */
export const invalidUtf8String: fc.Arbitrary<Doc> = fc
  .tuple(text(0, 4), invalidUtf8, text(0, 4))
  .map(([before, bad, after]) => ({ t: 'bytes', b: Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]) }));

/** Keys that a store or a merge could misread: prototype keys, operators, dotted paths. */
export const hostileKey = fc.constantFrom(
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '$set', '$where', '$gt', '$', 'a.b', 'status.x', '.', '', '\u0000', '\ud800', 'polluted',
);

// ---- any document -------------------------------------------------------------------------------

/** Any JSON document, with the hostile leaves and keys above and the names the API knows. */
export function anyDoc(knownKeys: readonly string[]): fc.Arbitrary<Doc> {
  const key = fc.oneof(hostileKey, fc.constantFrom(...knownKeys), text(0, 6));
  const leaf: fc.Arbitrary<Doc> = fc.oneof(
    text().map(str),
    hostileString.map(str),
    numberToken.map(raw),
    fc.constantFrom('true', 'false', 'null').map(raw),
    invalidUtf8String,
  );
  const { doc } = fc.letrec<{ doc: Doc }>((tie) => ({
    doc: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('doc'), { maxLength: 4 }).map((items): Doc => ({ t: 'arr', items })),
      fc.array(fc.tuple(key, tie('doc')), { maxLength: 4 }).map(obj),
      // What a pollution attempt looks like: a prototype key holding { polluted: ... }.
      fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), tie('doc')).map(([k, d]) => obj([[k, obj([['polluted', d]])]])),
    ),
  }));
  return doc;
}

/** `[[[...]]]`, `{"a":{"a":...}}` (both closed, or not) n deep, as a whole body or as a field value. */
export const deepNesting: fc.Arbitrary<Doc> = fc
  .tuple(fc.integer({ min: 2, max: 100_000 }), fc.constantFrom('array', 'object'), fc.boolean())
  .map(([n, shape, closed]) => {
    const [open, close] = shape === 'array' ? ['[', ']'] : ['{"a":', '}'];
    return raw(open.repeat(n) + (shape === 'array' ? '' : '1') + (closed ? close.repeat(n) : ''));
  });

// ---- valid bodies ---------------------------------------------------------------------------------

/** A value `spec` accepts. */
export function validValue(spec: FieldSpec): fc.Arbitrary<Doc> {
  const value = nonNullValue(spec);
  return spec.nullable ? fc.oneof({ arbitrary: value, weight: 4 }, { arbitrary: fc.constant(raw('null')), weight: 1 }) : value;
}

function nonNullValue(spec: FieldSpec): fc.Arbitrary<Doc> {
  switch (spec.type) {
    case 'string': {
      const max = spec.maxLength ?? 1000;
      // stringMatching cannot take the i flag; the lower-case subset is still valid.
      if (spec.pattern) return fc.stringMatching(new RegExp(spec.pattern.source, spec.pattern.flags.replace('i', ''))).filter((s) => s.length <= max).map(str);
      if (spec.format === 'email') {
        const part = text(1, 8).map((s) => s.replace(/[\s@]/gu, 'x'));
        return fc.tuple(part, part, part).map(([a, b, c]) => str(`${a}@${b}.${c}`));
      }
      return fc.oneof(text(0, Math.min(max, 20)), fc.constant('a'.repeat(max)), fc.constant('😀'.repeat(Math.floor(max / 2)))).map(str);
    }
    case 'enum':
      return fc.constantFrom(...spec.values).map(str);
    case 'integer': {
      const min = spec.min ?? Number.MIN_SAFE_INTEGER;
      const max = spec.max ?? Number.MAX_SAFE_INTEGER;
      const small = fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31 - 1) });
      return fc.oneof(small, fc.constantFrom(min, max)).map((n) => raw(String(n)));
    }
    case 'number':
      return fc.double({ min: spec.min, max: spec.max, noNaN: true, noDefaultInfinity: true }).map((n) => raw(JSON.stringify(n)));
    case 'boolean':
      return fc.constantFrom('true', 'false').map(raw);
    case 'string[]':
      return fc.array(text(0, Math.min(spec.maxLength ?? 1000, 12)).map(str), { maxLength: Math.min(spec.maxItems ?? 10, 5) }).map((items): Doc => ({ t: 'arr', items }));
    case 'date': {
      // Midnight UTC of each day in the bounds (default: years 1 to 9999, as YYYY-MM-DD can write).
      const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
      return fc.integer({ min: day(spec.min ?? '0001-01-01'), max: day(spec.max ?? '9999-12-31') }).map((n) => str(new Date(n * 86_400_000).toISOString().slice(0, 10)));
    }
    case 'datetime': {
      const offset = fc.constantFrom('Z', 'z', '+00:00', '-05:30', '+14:00', '-23:59');
      const instant = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true });
      return fc.tuple(instant, fc.boolean(), offset).map(([at, fraction, zone]) => str(at.toISOString().slice(0, fraction ? 23 : 19) + zone));
    }
  }
}

/** A value a client could mean for a field of this spec that the platform may not keep as sent. */
function edgeValue(spec: FieldSpec): fc.Arbitrary<Doc> {
  const edgeString = fc.oneof(hostileString.map(str), invalidUtf8String);
  switch (spec.type) {
    case 'integer':
    case 'number':
      return numberToken.map(raw);
    case 'string[]':
      return fc.array(edgeString, { minLength: 1, maxLength: 3 }).map((items): Doc => ({ t: 'arr', items }));
    case 'boolean':
      return fc.constantFrom(raw('0'), raw('1'), str('true'));
    default:
      return edgeString;
  }
}

/** Where validRequest puts its one edge value: a field, the account, or an ID at a position. */
type Edge = { field?: [string, Doc]; account?: Doc; id?: [Doc, number] };

/**
 * A body every check accepts, for either route; well-formed strings only. With `edge`, one value
 * (a field, the account or an ID) is at an edge instead: a number past the safe range, a lone
 * surrogate, NUL, invalid UTF-8, a length at a limit. Each either keeps exactly or is refused.
 */
export function validRequest(registry: RequestSchemas, maxEntityIds: number, edge = false): fc.Arbitrary<{ url: string; doc: Doc }> {
  return fc.constantFrom(...Object.keys(registry)).chain((name) => {
    const schema = registry[name]!;
    const fields = Object.entries(schema.fields ?? {}).filter(([, spec]) => !spec.readOnly);
    const valid = fc
      .record(Object.fromEntries(fields.map(([field, spec]) => [field, validValue(spec)])), { requiredKeys: [] })
      .map((record) => Object.entries(record) as [string, Doc][])
      .filter((entries) => entries.length > 0);
    const edgeField = fc.constantFrom(...fields).chain(([field, spec]) => edgeValue(spec).map((value): [string, Doc] => [field, value]));
    const id = fc.oneof(fc.constantFrom('c1', 'c2', 'c3'), text(1, 20)).map(str);
    const edgeString = fc.oneof(hostileString.map(str), invalidUtf8String);
    return fc
      .record({
        byRoute: fc.boolean(),
        accountId: fc.oneof({ arbitrary: fc.constant('acme'), weight: 3 }, { arbitrary: text(1, 20), weight: 1 }).map(str),
        entityIds: fc.array(id, { minLength: 1, maxLength: maxEntityIds }),
        updates: valid,
        scheduledAt: fc.boolean(),
        edge: edge
          ? fc.oneof(edgeField.map((field): Edge => ({ field })), edgeString.map((account): Edge => ({ account })), fc.tuple(edgeString, fc.nat()).map((id): Edge => ({ id })))
          : fc.constant<Edge>({}),
      })
      .map(({ byRoute, accountId, entityIds, updates, scheduledAt, edge }) => {
        const { field, account, id } = edge;
        if (field) updates = [...updates.filter(([name]) => name !== field[0]), field];
        if (account) accountId = account;
        if (id) entityIds = entityIds.toSpliced(id[1] % (entityIds.length + 1), 0, id[0]).slice(0, maxEntityIds);
        // One de-dup key value can only go to one entity.
        const key = schema.dedupeKey;
        const ids = updates.some(([field, value]) => field === key && value.t !== 'raw') ? entityIds.slice(0, 1) : entityIds;
        const entries: [string, Doc][] = [
          ['accountId', accountId],
          ...(byRoute ? [] : ([['entityType', str(name)]] as [string, Doc][])),
          ['entityIds', { t: 'arr', items: ids }],
          ['fieldsToUpdate', obj(updates)],
          ...(scheduledAt ? ([['scheduledAt', raw('null')]] as [string, Doc][]) : []),
        ];
        return { url: byRoute ? `/api/bulk-actions/${pathSegment(name)}` : '/api/bulk-actions', doc: obj(entries) };
      });
  });
}

// ---- near misses ------------------------------------------------------------------------------------

export function mutation(knownKeys: readonly string[]): fc.Arbitrary<Mutation> {
  const replace = (arb: fc.Arbitrary<Doc>) => arb.map((d): Mutation => ({ k: 'replace', with: d }));
  return fc.oneof(
    { arbitrary: replace(anyDoc(knownKeys)), weight: 4 },
    { arbitrary: replace(hostileString.map(str)), weight: 4 },
    { arbitrary: replace(numberToken.map(raw)), weight: 4 },
    { arbitrary: replace(invalidUtf8String), weight: 2 },
    { arbitrary: replace(hugeString.map(str)), weight: 1 },
    { arbitrary: replace(deepNesting), weight: 1 },
    { arbitrary: fc.constantFrom<Mutation>({ k: 'delete' }, { k: 'wrapInArray' }, { k: 'escapeStrings' }), weight: 3 },
    {
      arbitrary: fc
        .record({ key: fc.oneof(hostileKey, fc.constantFrom(...knownKeys)), value: anyDoc(knownKeys), at: fc.nat() })
        .map((r): Mutation => ({ k: 'addKey', ...r })),
      weight: 4,
    },
  );
}

/**
 * One mutation inside one top-level member (`fieldsToUpdate`, `entityIds`, ...), half the time at
 * the member itself (a key added to fieldsToUpdate, the whole list replaced): where validation is deepest.
 */
export function memberMutation(knownKeys: readonly string[], maxEntityIds: number): fc.Arbitrary<{ member: string; at: number; m: Mutation }> {
  const knownValues = fc.constantFrom(str('a@b.co'), str('customer'), str('active'), raw('7'), raw('true'), raw('null'), obj([]));
  const m = fc.oneof(
    mutation(knownKeys),
    fc.record({ key: fc.oneof(hostileKey, fc.constantFrom(...knownKeys)), value: fc.oneof(knownValues, anyDoc(knownKeys)), at: fc.nat() }).map((r): Mutation => ({ k: 'addKey', ...r })),
    fc.constantFrom<Mutation>({ k: 'replace', with: obj([]) }, { k: 'replace', with: { t: 'arr', items: [] } }),
    // A read-only field (the test registry's ticket.ticketNo) and a de-dup key set for several entities.
    fc.constantFrom<Mutation>({ k: 'addKey', key: 'ticketNo', value: raw('7'), at: 0 }, { k: 'addKey', key: 'email', value: str('a@b.co'), at: 0 }),
    fc.constant(tooManyIdsMutation(maxEntityIds)),
  );
  const anywhere = fc.record({
    member: fc.constantFrom('fieldsToUpdate', 'fieldsToUpdate', 'entityIds', 'accountId', 'entityType', 'scheduledAt'),
    at: fc.oneof(fc.constant(0), fc.nat()),
    m,
  });
  // A quarter aimed at the refusals deepest in validation, each a few percent of the cases
  // whatever the registry holds: left to chance, one of them goes missing when a type is added
  // and the fixed seed's draws shift.
  const addKey = (key: string, value: Doc): Mutation => ({ k: 'addKey', key, value, at: 0 });
  const aimed = fc.oneof(
    fc.constantFrom('id', '_id', 'accountId', 'createdAt', 'updatedAt', '$set', 'a.b', '__proto__', 'constructor').map((key) => addKey(key, raw('1'))),
    fc.constantFrom('noSuchField', 'toString', 'ticketNo').map((key) => addKey(key, raw('7'))),
    fc.constant<Mutation>({ k: 'replace', with: obj([]) }),
  ).map((aimedMutation) => ({ member: 'fieldsToUpdate', at: 0, m: aimedMutation }));
  const tooManyIds = fc.constant({ member: 'entityIds', at: 0, m: tooManyIdsMutation(maxEntityIds) });
  return fc.oneof({ arbitrary: anywhere, weight: 6 }, { arbitrary: aimed, weight: 1 }, { arbitrary: tooManyIds, weight: 1 });
}

/** entityIds replaced by one ID more than the limit. */
function tooManyIdsMutation(maxEntityIds: number): Mutation {
  return { k: 'replace', with: { t: 'arr', items: Array.from({ length: maxEntityIds + 1 }, (_, i) => str(`c${i}`)) } };
}

export const byteDamage: fc.Arbitrary<ByteDamage> = fc.oneof(
  fc.nat().map((at): ByteDamage => ({ k: 'truncate', at })),
  fc.constantFrom('x', '}', ']', ',', ' {}', '\u0000', 'null', '\n{"accountId":"acme"}').map((garbage): ByteDamage => ({ k: 'append', garbage })),
  fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }).map((r): ByteDamage => ({ k: 'setByte', ...r })),
  fc.record({ nth: fc.nat(), bytes: invalidUtf8 }).map((r): ByteDamage => ({ k: 'intoString', ...r })),
);
