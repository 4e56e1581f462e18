import type { FieldValue } from '../types/entities';

/**
 * How a handler declares its updatable fields. Request validation (src/actions/validateRequest.ts)
 * reads this declaration; there is no second list anywhere.
 */
export type FieldSpec = (
  | { type: 'string'; maxLength?: number; pattern?: RegExp; format?: 'email' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'integer'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number }
  | { type: 'boolean' }
  | { type: 'string[]'; maxItems?: number; maxLength?: number }
) & {
  /** null clears the field. */
  nullable?: boolean;
  /** Shown by the schema but never settable in bulk. */
  readOnly?: boolean;
};

export type EntitySchema = Record<string, FieldSpec>;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DEFAULT_MAX_LENGTH = 1000;

/** Why `value` does not fit `spec`, or null when it does. */
export function checkFieldValue(spec: FieldSpec, value: FieldValue | undefined): string | null {
  if (value === null) return spec.nullable ? null : 'must not be null';
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') return 'must be a string';
      if (value.length > (spec.maxLength ?? DEFAULT_MAX_LENGTH)) return `must be at most ${spec.maxLength ?? DEFAULT_MAX_LENGTH} characters`;
      if (spec.format === 'email' && !EMAIL.test(value)) return 'must be an email address';
      if (spec.pattern && !spec.pattern.test(value)) return `must match ${spec.pattern.source}`;
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
  }
}

function checkRange(value: number, min: number | undefined, max: number | undefined): string | null {
  if (min !== undefined && value < min) return `must be at least ${min}`;
  if (max !== undefined && value > max) return `must be at most ${max}`;
  return null;
}
