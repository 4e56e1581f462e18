import { describe, expect, it } from 'vitest';
import { assertValidSchema, checkFieldValue, type FieldSpec } from '../../src/handlers/fieldSchema';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config';
import { handlers, type HandlerRegistry } from '../../src/handlers/index';
import { buildPlatform } from '../../src/platform';
import { GadgetHandler } from '../support/gadgetHandler';

/** Issue 8: the date and datetime kinds, and messages that name a format in words, never a regular expression. */

const date: FieldSpec = { type: 'date' };
const datetime: FieldSpec = { type: 'datetime' };

describe('a date field', () => {
  it.each(['2026-03-31', '2024-02-29', '2000-02-29', '0001-01-01', '9999-12-31'])('accepts %s', (value) => {
    expect(checkFieldValue(date, value)).toBeNull();
  });

  it.each([
    ['2026-02-30', 'a day February does not have'],
    ['2023-02-29', 'a leap day of a common year'],
    ['1900-02-29', 'a leap day of a century that is not a leap year'],
    ['2026-13-01', 'month 13'],
    ['2026-04-31', 'the 31st of a 30-day month'],
    ['2026-00-10', 'month 0'],
    ['2026-3-31', 'a one-digit month'],
    ['31/03/2026', 'another order'],
    ['2026-03-31T00:00:00Z', 'a date-time'],
    [' 2026-03-31', 'a leading space'],
  ])('refuses %s (%s), naming YYYY-MM-DD', (value) => {
    const problem = checkFieldValue(date, value);
    expect(problem).toBe('must be a date as YYYY-MM-DD, e.g. 2026-03-31 (a day that exists in the calendar)');
  });

  it('refuses non-strings and, unless nullable, null', () => {
    expect(checkFieldValue(date, 20260331)).toMatch(/YYYY-MM-DD/);
    expect(checkFieldValue(date, null)).toBe('must not be null');
    expect(checkFieldValue({ type: 'date', nullable: true }, null)).toBeNull();
  });

  it('keeps to inclusive min and max', () => {
    const spec: FieldSpec = { type: 'date', min: '2026-01-01', max: '2026-12-31' };
    expect(checkFieldValue(spec, '2026-01-01')).toBeNull();
    expect(checkFieldValue(spec, '2026-12-31')).toBeNull();
    expect(checkFieldValue(spec, '2025-12-31')).toBe('must be on or after 2026-01-01');
    expect(checkFieldValue(spec, '2027-01-01')).toBe('must be on or before 2026-12-31');
  });
});

describe('a datetime field', () => {
  it.each([
    '2026-03-31T14:30:00Z',
    '2026-03-31T14:30:00+02:00',
    '2026-03-31T14:30:00.123-05:30',
    '2026-03-31T23:59:59.999999+14:00',
    '2026-03-31t14:30:00z', // RFC 3339 5.6 NOTE: T and Z may be lower case
    '2026-03-31 14:30:00Z', // and a space may separate date and time
    '2026-03-31T14:30:00.123456789Z', // nanoseconds
    '0000-01-01T00:00:00Z',
  ])('accepts %s, which Date.parse reads too', (value) => {
    expect(checkFieldValue(datetime, value)).toBeNull();
    expect(Number.isNaN(Date.parse(value))).toBe(false);
  });

  it.each([
    ['2026-03-31T14:30:00', 'no offset: a local time is ambiguous'],
    ['2026-03-31', 'a date alone'],
    ['2026-02-30T10:00:00Z', 'a day that does not exist'],
    ['2026-03-31T24:00:00Z', 'hour 24'],
    ['2026-03-31T14:60:00Z', 'minute 60'],
    ['2026-03-31T14:30:60Z', 'a leap second at any other time'],
    ['2016-12-31T23:59:60Z', 'even a real leap second: Date.parse and most parsers refuse :60'],
    ['2026-03-31T14:30:00+24:00', 'an offset of 24 hours'],
    ['2026-03-31T14:30:00+0200', 'an offset without its colon (ISO 8601 basic, not RFC 3339)'],
    ['2026-03-31T14:30:00+02', 'an offset of hours only'],
    ['2026-03-31T14:30Z', 'no seconds'],
    ['2026-03-31\t14:30:00Z', 'a tab between date and time'],
    ['2026-03-31\n14:30:00Z', 'a newline between date and time'],
    ['2026-03-31\u00a014:30:00Z', 'a no-break space between date and time'],
    ['2026-03-31T14:30:00.1234567890Z', 'ten fraction digits'],
    ['2026-03-31T14:30:00Z\n', 'a trailing newline'],
    ['1711895400000', 'epoch milliseconds'],
  ])('refuses %s (%s), naming the format', (value) => {
    expect(checkFieldValue(datetime, value)).toBe(
      'must be a date and time with a UTC offset (RFC 3339), e.g. 2026-03-31T14:30:00Z or 2026-03-31T14:30:00+02:00',
    );
  });
});

describe('a string with a pattern', () => {
  it('says what it expects in words, not the regular expression', () => {
    const currency = handlers.product.fields.currency!;
    const problem = checkFieldValue(currency, 'usd');
    expect(problem).toBe('must be a three-letter ISO 4217 currency code in capitals, e.g. USD');
    expect(problem).not.toContain('[A-Z]');
  });

  it('never shows a pattern in the message of any registered type', () => {
    const registry = { ...handlers, gadget: new GadgetHandler() };
    for (const handler of Object.values(registry)) {
      for (const [field, spec] of Object.entries(handler.fields ?? {})) {
        if (spec.type !== 'string' || !spec.pattern) continue;
        expect(checkFieldValue(spec, '\u{1F600} no match'), `${handler.entityType}.${field}`).not.toContain(spec.pattern.source);
      }
    }
  });
});

describe('assertValidSchema', () => {
  it('accepts the declaration of every registered type and of the test type', () => {
    for (const handler of [...Object.values(handlers), new GadgetHandler()]) {
      expect(() => assertValidSchema(handler.entityType, handler.fields ?? {})).not.toThrow();
    }
  });

  it.each<[string, FieldSpec, string]>([
    ['a pattern without words for it', { type: 'string', pattern: /^x$/, expected: ' ' }, 'a pattern needs `expected`'],
    ['an example the pattern refuses', { type: 'string', pattern: /^[A-Z]{3}$/, expected: 'three capitals', examples: ['USD', 'usd'] }, 'every example must match'],
    ['an example longer than maxLength', { type: 'string', maxLength: 2, pattern: /^[A-Z]+$/, expected: 'capitals', examples: ['ABC'] }, 'every example must match'],
    ['an empty enum', { type: 'enum', values: [] }, 'an enum needs at least one value'],
    ['number bounds the wrong way round', { type: 'number', min: 5, max: 1 }, 'min is above max'],
    ['a date bound that is not a date', { type: 'date', min: '2026-02-30' }, 'the bound "2026-02-30" is not a date as YYYY-MM-DD'],
    ['date bounds the wrong way round', { type: 'date', min: '2026-02-01', max: '2026-01-31' }, 'min is after max'],
    ['a pattern with the g flag', { type: 'string', pattern: /^[A-Z]{3}$/g, expected: 'three capitals' }, 'a pattern must not have the g or y flag'],
    ['a pattern with the y flag', { type: 'string', pattern: /[A-Z]{3}/y, expected: 'three capitals' }, 'a pattern must not have the g or y flag'],
    ['a negative maxLength', { type: 'string', maxLength: -1 }, 'maxLength must be a non-negative integer'],
    ['a fractional maxItems', { type: 'string[]', maxItems: 1.5 }, 'maxLength and maxItems must be non-negative integers'],
    ['a NaN bound', { type: 'integer', min: Number.NaN }, 'min and max must be finite numbers'],
  ])('refuses %s, naming the type and field', (_case, spec, message) => {
    expect(() => assertValidSchema('opportunity', { amount: spec })).toThrow(`opportunity.fields.amount: ${message}`);
  });
});

describe('a platform built with a registry it cannot serve', () => {
  const build = async (registry: HandlerRegistry) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-registry-'));
    try {
      return await buildPlatform(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), { logger: pino({ level: 'silent' }), handlers: registry });
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  };

  it('refuses to start on a malformed field declaration, naming the type and field', async () => {
    const gadget = new GadgetHandler();
    Object.assign(gadget.fields!, { madeOn: { type: 'date', min: '2026-02-30' } });
    await expect(build({ ...handlers, gadget })).rejects.toThrow('gadget.fields.madeOn: the bound "2026-02-30" is not a date');
  });

  it('refuses a declared field that no update could set', async () => {
    const gadget = new GadgetHandler();
    Object.assign(gadget.fields!, { updatedAt: { type: 'integer' } });
    await expect(build({ ...handlers, gadget })).rejects.toThrow('gadget.fields.updatedAt: this name is reserved');
  });

  it('refuses a dedupeKey that is not a declared string field', async () => {
    for (const dedupeKey of ['emial', 'units']) {
      const gadget = Object.assign(new GadgetHandler(), { dedupeKey });
      await expect(build({ ...handlers, gadget })).rejects.toThrow(`gadget.dedupeKey "${dedupeKey}" must be one of its declared string fields`);
    }
  });

  it.each(['sales-order', 'Gadget', 'many', '1st'])('refuses the type name %s, which the spec client names cannot be built from', async (name) => {
    const gadget = Object.assign(new GadgetHandler(), { entityType: name });
    await expect(build({ ...handlers, [name]: gadget })).rejects.toThrow(`the entity type "${name}" must be a camelCase identifier`);
  });

  it('refuses a registry key that differs from its handler\'s entityType', async () => {
    await expect(build({ ...handlers, gadgets: new GadgetHandler() })).rejects.toThrow(
      'the registry key "gadgets" holds a handler of entityType "gadget"',
    );
  });
});
