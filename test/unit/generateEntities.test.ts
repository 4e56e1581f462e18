import { describe, expect, it } from 'vitest';
import { checkFieldValue, type EntitySchema } from '../../src/handlers/fieldSchema';
import { handlers, type HandlerRegistry } from '../../src/handlers/index';
import { QUALIFIED_MIN_SCORE } from '../../src/handlers/LeadHandler';
import { generateEntities } from '../../src/seeding/generateEntities';
import { GadgetHandler } from '../support/gadgetHandler';
import { normaliseDedupeKey, type NewEntity } from '../../src/store/entityStore';
import type { FieldValue } from '../../src/types/entities';

/** The built-in registry plus one type, as a registry after the guide's steps would be. */
const extendedRegistry: HandlerRegistry = { ...handlers, gadget: new GadgetHandler() };

/** Declared fields a generic value can be made for: a string with a pattern and no examples is left unset (a maker may fill it). */
function generatedFields(schema: EntitySchema): string[] {
  return Object.entries(schema).filter(([, spec]) => !(spec.type === 'string' && spec.pattern && !spec.examples?.length)).map(([field]) => field).sort();
}

/** How many entities reuse the (normalised) email of an entity before them. */
function repeatedEmails(entities: NewEntity[]): number {
  const seen = new Set<string | null>();
  let repeats = 0;
  for (const entity of entities) {
    const key = normaliseDedupeKey(entity.data.email);
    if (seen.has(key)) repeats++;
    seen.add(key);
  }
  return repeats;
}

describe('generateEntities', () => {
  for (const [entityType, handler] of Object.entries(extendedRegistry)) {
    it(`gives every ${entityType} exactly the declared fields, each passing its schema`, () => {
      const entities = generateEntities(entityType, 3_000, { idPrefix: `${entityType}-`, duplicateEmailRate: 0.1, schema: handler.fields });
      const fields = handler.fields ?? {};
      const problems: string[] = [];
      for (const entity of entities) {
        for (const [field, spec] of Object.entries(fields)) {
          if (!Object.hasOwn(entity.data, field)) continue;
          const problem = checkFieldValue(spec, entity.data[field] as FieldValue);
          if (problem !== null) problems.push(`${entity.id}.${field} = ${JSON.stringify(entity.data[field])}: ${problem}`);
        }
      }
      expect(problems.slice(0, 5)).toEqual([]);
      // Every declared field, but a patterned string only where a maker knows what to put there.
      const declared = Object.keys(fields);
      const required = generatedFields(fields);
      for (const entity of entities) {
        const keys = Object.keys(entity.data);
        expect(keys.filter((key) => !declared.includes(key))).toEqual([]);
        expect(required.filter((key) => !keys.includes(key))).toEqual([]);
      }
    });
  }

  it('generates a type without a maker from its schema: varied, sometimes null where nullable, deterministic', () => {
    const { fields } = new GadgetHandler();
    const options = { idPrefix: 'gadget-', seed: 5, schema: fields };
    const entities = generateEntities('gadget', 2_000, options);
    expect(generateEntities('gadget', 2_000, options)).toEqual(entities);
    expect(generateEntities('gadget', 2_000, { ...options, seed: 6 })).not.toEqual(entities);
    const valuesOf = (field: string) => new Set(entities.map((e) => JSON.stringify(e.data[field])));
    expect(valuesOf('kind')).toEqual(new Set(['"small"', '"large"']));
    expect(valuesOf('units').size).toBe(11);
    expect(valuesOf('active')).toEqual(new Set(['true', 'false', 'null']));
    expect(valuesOf('email').has('null')).toBe(true);
    expect(valuesOf('name').size).toBeGreaterThan(100);
    expect(valuesOf('serial')).toEqual(new Set(['1']));
    // Every day of the declared range, leap day included, and nothing outside it.
    expect(valuesOf('madeOn')).toEqual(new Set(['"2020-02-29"', '"2020-03-01"', '"2020-03-02"']));
    expect(valuesOf('shippedAt').size).toBeGreaterThan(1_500);
    expect(valuesOf('shippedAt').has('null')).toBe(true);
    // A name-like field reads as a name, not as filler.
    for (const entity of entities.slice(0, 20)) expect(entity.data.name).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+ \d+$/);
  });

  it('fills a date field that declares one bound, however far from today, within its bound', () => {
    const schema: EntitySchema = {
      after2030: { type: 'date', min: '2030-01-01' },
      before2000: { type: 'date', max: '2000-01-01' },
      lastDay: { type: 'date', min: '9999-12-31' },
      firstDay: { type: 'date', max: '0000-01-01' },
    };
    const entities = generateEntities('calendar', 500, { idPrefix: 'cal-', schema });
    for (const { data } of entities) {
      for (const [field, spec] of Object.entries(schema)) expect(checkFieldValue(spec, data[field] as FieldValue), `${field} = ${String(data[field])}`).toBeNull();
    }
    expect(new Set(entities.map((e) => e.data.lastDay))).toEqual(new Set(['9999-12-31']));
    expect(new Set(entities.map((e) => e.data.firstDay))).toEqual(new Set(['0000-01-01']));
    // Four years' worth of days on the open side, not one.
    expect(new Set(entities.map((e) => e.data.after2030)).size).toBeGreaterThan(300);
  });

  it('applies duplicateEmailRate to an email field generated from a schema', () => {
    const { fields } = new GadgetHandler();
    const entities = generateEntities('gadget', 5_000, { idPrefix: 'g-', duplicateEmailRate: 0.1, seed: 3, schema: fields })
      .filter((e) => e.data.email !== null);
    const share = repeatedEmails(entities) / entities.length;
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.15);
  });

  it("keeps generated leads and products consistent with their handlers' own rules", () => {
    for (const { data } of generateEntities('lead', 3_000, { idPrefix: 'lead-' })) {
      if (data.status === 'qualified') expect(data.score).toBeGreaterThanOrEqual(QUALIFIED_MIN_SCORE);
    }
    const products = generateEntities('product', 3_000, { idPrefix: 'product-' });
    for (const { data } of products) {
      if (data.active === true) expect(data.price).toBeGreaterThan(0);
      expect(Math.round((data.price as number) * 100) / 100).toBe(data.price);
    }
    // Some unpriced drafts exist, so activating every product demonstrates a per-entity failure.
    expect(products.some((p) => p.data.price === 0)).toBe(true);
  });

  it('gives a type it does not know a name', () => {
    const entities = generateEntities('widget', 3, { idPrefix: 'widget-' });
    expect(entities.map((e) => Object.keys(e.data))).toEqual([['name'], ['name'], ['name']]);
    for (const entity of entities) expect(entity.data.name).toMatch(/\S/);
  });

  it('numbers IDs from startIndex, zero-padded to 7 digits, without repeats', () => {
    const entities = generateEntities('contact', 10_000, { idPrefix: 'c-' });
    expect(entities[0]?.id).toBe('c-0000001');
    expect(entities.at(-1)?.id).toBe('c-0010000');
    for (const entity of entities) expect(entity.id).toMatch(/^c-\d{7}$/);
    expect(new Set(entities.map((e) => e.id)).size).toBe(10_000);
    expect(generateEntities('lead', 2, { idPrefix: 'lead-', startIndex: 42 }).map((e) => e.id)).toEqual(['lead-0000042', 'lead-0000043']);
  });

  it('is deterministic for a seed, and a slice generated alone equals the same slice of a longer run', () => {
    const options = { idPrefix: 'c-', seed: 7 };
    expect(generateEntities('contact', 500, options)).toEqual(generateEntities('contact', 500, options));
    expect(generateEntities('contact', 500, { ...options, seed: 8 })).not.toEqual(generateEntities('contact', 500, options));
    const whole = generateEntities('account', 300, options);
    const parts = [...generateEntities('account', 100, options), ...generateEntities('account', 200, { ...options, startIndex: 101 })];
    expect(parts).toEqual(whole);
  });

  it('gives every contact and lead its own email when duplicateEmailRate is 0', () => {
    expect(repeatedEmails(generateEntities('contact', 10_000, { idPrefix: 'c-' }))).toBe(0);
    expect(repeatedEmails(generateEntities('lead', 10_000, { idPrefix: 'l-', duplicateEmailRate: 0 }))).toBe(0);
  });

  it('makes about duplicateEmailRate of contacts and leads reuse an earlier email', () => {
    for (const entityType of ['contact', 'lead']) {
      const entities = generateEntities(entityType, 10_000, { idPrefix: 'x-', duplicateEmailRate: 0.1, seed: 3 });
      const share = repeatedEmails(entities) / entities.length;
      expect(share).toBeGreaterThan(0.05);
      expect(share).toBeLessThan(0.15);
    }
    // Everyone shares the first entity's email at rate 1.
    const all = generateEntities('contact', 50, { idPrefix: 'c-', duplicateEmailRate: 1 });
    expect(new Set(all.map((e) => e.data.email)).size).toBe(1);
  });

  it('rejects options it cannot honour', () => {
    expect(() => generateEntities('contact', 1, { idPrefix: 'c-', duplicateEmailRate: 1.5 })).toThrow(RangeError);
    expect(() => generateEntities('contact', -1, { idPrefix: 'c-' })).toThrow(RangeError);
    expect(() => generateEntities('contact', 1, { idPrefix: 'c-', seed: 0.5 })).toThrow(RangeError);
  });
});
