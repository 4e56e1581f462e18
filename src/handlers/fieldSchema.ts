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
const DATE_FORMAT = 'a date as YYYY-MM-DD, e.g. 2026-03-31';
const DATETIME_FORMAT = 'a date and time with a UTC offset (RFC 3339), e.g. 2026-03-31T14:30:00Z or 2026-03-31T14:30:00+02:00';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DEFAULT_MAX_LENGTH = 1000;

const DATE_SHAPE = /^\d{4}-\d{2}-\d{2}$/;
/**
 * RFC 3339 section 5.6 date-time, strictly: "T" (or "t", or the space its note allows) between
 * date and time, seconds required, at most 9 fraction digits, and "Z" or ±HH:MM. Stricter than
 * the RFC in one way: no leap second (:60), which JavaScript's Date (Date.parse) and most parsers
 * refuse; a value stored as sent must read back in the client's language.
 */
const DATETIME_SHAPE = /^(\d{4}-\d{2}-\d{2})[Tt ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/**
 * A calendar date as YYYY-MM-DD (RFC 3339 full-date), years 0000 to 9999. The calendar is Date's:
 * Date.parse rolls 2026-02-30 over into March, so the date must read back unchanged.
 */
function isDate(value: string): boolean {
  if (!DATE_SHAPE.test(value)) return false;
  const ms = Date.parse(`${value}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === value;
}

function isDatetime(value: string): boolean {
  const date = DATETIME_SHAPE.exec(value)?.[1];
  return date !== undefined && isDate(date);
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
 * Names no update may set, whatever a handler declares: prototype keys (an update object is
 * spread into stored records), the columns the platform owns, and (see isReservedFieldName)
 * names a document store would read as an operator or a path.
 */
const RESERVED_FIELD_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype', 'id', '_id', 'accountId', 'createdAt', 'updatedAt']);

/** Whether `name` can never be a field of an update: RESERVED_FIELD_NAMES, or starting with `$`, or containing `.`. */
export function isReservedFieldName(name: string): boolean {
  return RESERVED_FIELD_NAMES.has(name) || name.startsWith('$') || name.includes('.');
}

/**
 * Throws an Error naming the type and field for a declaration that cannot work: a field name no
 * update may set, a pattern without `expected`, with the g or y flag (RegExp.test would then
 * depend on the previous call) or with an example it refuses, bounds that are not finite or the
 * wrong way round, a negative length or count, an empty enum, a date bound that is not a date.
 * Called for every registered type when a platform is built and before seeding, so a mistake stops
 * the start rather than a request.
 */
export function assertValidSchema(entityType: string, schema: EntitySchema): void {
  for (const [field, spec] of Object.entries(schema)) {
    const problem = isReservedFieldName(field) ? 'this name is reserved: no update could set it (rename the field)' : declarationProblem(spec);
    if (problem !== null) throw new Error(`${entityType}.fields.${field}: ${problem}`);
  }
}

function declarationProblem(spec: FieldSpec): string | null {
  switch (spec.type) {
    case 'string':
      if (!isCount(spec.maxLength)) return 'maxLength must be a non-negative integer';
      if (!spec.pattern) return null;
      if (typeof spec.expected !== 'string' || spec.expected.trim() === '') return 'a pattern needs `expected`: what the field expects, in words, for the 400 message';
      if (spec.pattern.global || spec.pattern.sticky) return 'a pattern must not have the g or y flag: RegExp.test would carry lastIndex from one value to the next';
      return spec.examples?.find((example) => checkFieldValue({ ...spec, nullable: false }, example) !== null) !== undefined
        ? 'every example must match the pattern and fit maxLength'
        : null;
    case 'string[]':
      return isCount(spec.maxLength) && isCount(spec.maxItems) ? null : 'maxLength and maxItems must be non-negative integers';
    case 'enum':
      return spec.values.length === 0 ? 'an enum needs at least one value' : null;
    case 'integer':
    case 'number':
      if (![spec.min, spec.max].every((bound) => bound === undefined || Number.isFinite(bound))) return 'min and max must be finite numbers';
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

function isCount(value: number | undefined): boolean {
  return value === undefined || (Number.isInteger(value) && value >= 0);
}
