import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { FieldValue } from '../types/entities';

/**
 * How a handler declares its updatable fields. Request validation (src/actions/validateRequest.ts)
 * reads this declaration, and seeding (src/seeding/generateEntities.ts) generates data from it;
 * there is no second list anywhere. A 400 for a value names what the field expects in words
 * (`must be a date as YYYY-MM-DD, e.g. 2026-03-31`), never a regular expression.
 */
export type FieldSpec = (
  | { type: 'string'; maxLength?: number; format?: 'email'; pattern?: never }
  | PatternStringSpec
  | { type: 'enum'; values: readonly string[] }
  | { type: 'integer'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number }
  | { type: 'boolean' }
  | { type: 'string[]'; maxItems?: number; maxLength?: number }
  /** A calendar date, `YYYY-MM-DD` (RFC 3339 full-date): 2026-02-30 is refused. `min`/`max` are inclusive dates of the same form. */
  | { type: 'date'; min?: string; max?: string }
  /** A date and time with a UTC offset (RFC 3339 date-time, the internet profile of ISO 8601), stored as sent. */
  | { type: 'datetime' }
) & {
  /** null clears the field. */
  nullable?: boolean;
  /** Shown by the schema but never settable in bulk. */
  readOnly?: boolean;
};

/**
 * A string that must match `pattern`. `expected` says in words what that means, for the client
 * ("a three-letter currency code such as USD"); `examples` (each matching the pattern) are what
 * seeding puts in the field; without them a generated entity leaves the field unset.
 */
export interface PatternStringSpec {
  type: 'string';
  maxLength?: number;
  pattern: RegExp;
  expected: string;
  examples?: readonly string[];
  format?: never;
}

export type EntitySchema = Record<string, FieldSpec>;

/** Names the formats in messages and docs, one place. */
export const DATE_FORMAT = 'a date as YYYY-MM-DD, e.g. 2026-03-31';
export const DATETIME_FORMAT = 'a date and time with a UTC offset (RFC 3339), e.g. 2026-03-31T14:30:00Z or 2026-03-31T14:30:00+02:00';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DEFAULT_MAX_LENGTH = 1000;

// ajv-formats' RFC 3339 checks (a direct dependency, also Fastify's): calendar-valid dates with
// leap years, hours/minutes/seconds in range, leap seconds at 23:59:60 UTC only, offsets up to ±23:59.
const isDate = formatCheck('date');
const isDatetime = formatCheck('date-time');

/** ajv-formats types each format loosely (a RegExp, a string or a definition); these two are synchronous validate functions. */
function formatCheck(name: 'date' | 'date-time'): (value: string) => boolean {
  const format = fullFormats[name];
  const validate: unknown = typeof format === 'object' && !(format instanceof RegExp) ? format.validate : undefined;
  if (typeof validate !== 'function') throw new Error(`ajv-formats has no validate function for ${name}`);
  return (value) => validate(value) === true;
}

/** Why `value` does not fit `spec`, or null when it does. The reason reads after the field's path: "fieldsToUpdate.x <reason>". */
export function checkFieldValue(spec: FieldSpec, value: FieldValue | undefined): string | null {
  if (value === null) return spec.nullable ? null : 'must not be null';
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') return 'must be a string';
      if (value.length > (spec.maxLength ?? DEFAULT_MAX_LENGTH)) return `must be at most ${spec.maxLength ?? DEFAULT_MAX_LENGTH} characters`;
      if (spec.format === 'email' && !EMAIL.test(value)) return 'must be an email address';
      if (spec.pattern && !spec.pattern.test(value)) return `must be ${spec.expected}`;
      return null;
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value) ? null : `must be one of ${spec.values.join(', ')}`;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer';
      return checkRange(value, spec.min, spec.max);
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
      return checkRange(value, spec.min, spec.max);
    case 'boolean':
      return typeof value === 'boolean' ? null : 'must be a boolean';
    case 'string[]': {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return 'must be an array of strings';
      if (spec.maxItems !== undefined && value.length > spec.maxItems) return `must have at most ${spec.maxItems} items`;
      const max = spec.maxLength ?? DEFAULT_MAX_LENGTH;
      return value.some((v) => v.length > max) ? `items must be at most ${max} characters` : null;
    }
    case 'date':
      if (typeof value !== 'string' || !isDate(value)) return `must be ${DATE_FORMAT} (a day that exists in the calendar)`;
      // YYYY-MM-DD strings compare as the dates they name.
      if (spec.min !== undefined && value < spec.min) return `must be on or after ${spec.min}`;
      if (spec.max !== undefined && value > spec.max) return `must be on or before ${spec.max}`;
      return null;
    case 'datetime':
      return typeof value === 'string' && isDatetime(value) ? null : `must be ${DATETIME_FORMAT}`;
  }
}

function checkRange(value: number, min: number | undefined, max: number | undefined): string | null {
  if (min !== undefined && value < min) return `must be at least ${min}`;
  if (max !== undefined && value > max) return `must be at most ${max}`;
  return null;
}

/**
 * Throws an Error naming the type and field for a declaration no value could be checked against
 * sensibly: a pattern without `expected` or with an example it refuses, bounds the wrong way
 * round, an empty enum, a date bound that is not a date. Called for every registered type when a
 * platform is built (src/platform.ts), so a mistake stops the start rather than a request.
 */
export function assertValidSchema(entityType: string, schema: EntitySchema): void {
  for (const [field, spec] of Object.entries(schema)) {
    const problem = declarationProblem(spec);
    if (problem !== null) throw new Error(`${entityType}.fields.${field}: ${problem}`);
  }
}

function declarationProblem(spec: FieldSpec): string | null {
  switch (spec.type) {
    case 'string':
      if (!spec.pattern) return null;
      if (typeof spec.expected !== 'string' || spec.expected.trim() === '') return 'a pattern needs `expected`: what the field expects, in words, for the 400 message';
      return spec.examples?.find((example) => checkFieldValue({ ...spec, nullable: false }, example) !== null) !== undefined
        ? 'every example must match the pattern and fit maxLength'
        : null;
    case 'enum':
      return spec.values.length === 0 ? 'an enum needs at least one value' : null;
    case 'integer':
    case 'number':
      return spec.min !== undefined && spec.max !== undefined && spec.min > spec.max ? 'min is above max' : null;
    case 'date':
      for (const bound of [spec.min, spec.max]) {
        if (bound !== undefined && !isDate(bound)) return `the bound ${JSON.stringify(bound)} is not ${DATE_FORMAT}`;
      }
      return spec.min !== undefined && spec.max !== undefined && spec.min > spec.max ? 'min is after max' : null;
    default:
      return null;
  }
}
