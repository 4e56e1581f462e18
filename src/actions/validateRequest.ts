import type { InputLimits } from '../config';
import { ApiError } from '../errors';
import { BaseEntityHandler, type RequestRuleViolation } from '../handlers/BaseEntityHandler';
import { checkFieldValue, isReservedFieldName } from '../handlers/fieldSchema';
import type { HandlerRegistry } from '../handlers/index';
import type { FieldUpdates, FieldValue } from '../types/entities';
import { numberProblem, stringProblem } from './exactValues';

/** What request validation reads of a handler as plain data (a RegExp at most), which the create thread gets by message. */
export type RequestSchemaData = Pick<BaseEntityHandler, 'entityType' | 'fields' | 'dedupeKey'> & {
  /** Whether the handler declares a request-level rule (overrides `validateFieldsToUpdate`). */
  hasRequestRule?: boolean;
};

/**
 * What the create path reads of a handler: its type, declared fields and de-dup key, and its
 * request-level rule. A handler is one; in the create thread, the rule is a call to the API
 * thread, which holds the handler instances (src/actions/createThread/threadMain.ts).
 */
export type RequestSchema = RequestSchemaData & {
  validateFieldsToUpdate?(fieldsToUpdate: Readonly<FieldUpdates>): RequestRuleViolation | null | Promise<RequestRuleViolation | null>;
};

/** The schema of every registered type, by the name the API accepts. A HandlerRegistry is one. */
export type RequestSchemas = Readonly<Record<string, RequestSchema>>;

/** The registry's schemas as plain data (no handler instances, no methods). */
export function requestSchemasOf(handlers: HandlerRegistry): Readonly<Record<string, RequestSchemaData>> {
  return Object.fromEntries(
    Object.entries(handlers).map(([name, h]) => [
      name,
      {
        entityType: h.entityType,
        fields: h.fields,
        dedupeKey: h.dedupeKey,
        hasRequestRule: h.validateFieldsToUpdate !== BaseEntityHandler.prototype.validateFieldsToUpdate,
      },
    ]),
  );
}

/**
 * Runs the type's request-level rule (BaseEntityHandler.validateFieldsToUpdate) on a validated
 * request's fields, which it gets as a frozen copy: what is stored is what the client sent.
 * Throws ApiError UPDATE_RULE_VIOLATED (400) for a violation, and an Error (a server error) for
 * an answer that is not one or for anything the rule throws: a handler's mistake must not reach
 * the client as theirs.
 */
export async function checkRequestRule(registry: RequestSchemas, request: ValidatedRequest): Promise<void> {
  const schema = Object.hasOwn(registry, request.entityType) ? registry[request.entityType] : undefined;
  if (!schema?.validateFieldsToUpdate) return;
  let violation: RequestRuleViolation | null;
  try {
    violation = await schema.validateFieldsToUpdate(frozenCopy(request.fieldsToUpdate));
  } catch (thrown) {
    // A rule reports a violation by returning it; what it throws is the handler's fault, never the
    // client's, even an ApiError (which would otherwise pick the status).
    if (thrown instanceof ApiError) throw new Error(`${request.entityType}.validateFieldsToUpdate threw ${thrown.code}: ${thrown.message}`);
    throw thrown;
  }
  const checked = violationOf(request.entityType, violation);
  if (checked === null) return;
  const { field, rule, message } = checked;
  throw new ApiError('UPDATE_RULE_VIOLATED', message, { field: `fieldsToUpdate.${field}`, rule, reason: message });
}

/**
 * A rule's answer as exactly null or `{ field, rule, message }` (a fresh object: nothing else on
 * it travels on); throws an Error (a server error) for anything else, e.g. undefined from a
 * missing return in JavaScript.
 */
export function violationOf(entityType: string, answer: unknown): RequestRuleViolation | null {
  if (answer === null) return null;
  const { field, rule, message } = (typeof answer === 'object' ? answer : {}) as Record<string, unknown>;
  if (typeof field !== 'string' || typeof rule !== 'string' || typeof message !== 'string') {
    throw new Error(`${entityType}.validateFieldsToUpdate must return null or { field, rule, message } strings; got ${describe(answer)}`);
  }
  return { field, rule, message };
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A copy of `fields` that throws on any write, lists included: what a request-level rule is given. */
export function frozenCopy(fields: FieldUpdates): Readonly<FieldUpdates> {
  const copy: FieldUpdates = {};
  for (const [name, value] of Object.entries(fields)) copy[name] = Array.isArray(value) ? Object.freeze([...value]) as string[] : value;
  return Object.freeze(copy);
}

/** A create request that passed every check the API can make without touching the stores. */
export interface ValidatedRequest {
  accountId: string;
  entityType: string;
  entityIds: string[];
  fieldsToUpdate: FieldUpdates;
  /** Always null until scheduling lands. */
  scheduledAt: number | null;
}

/** MAX_ENTITY_IDS and the lengths and counts of src/config.ts's InputLimits. */
export interface RequestLimits extends InputLimits {
  maxEntityIds: number;
}

const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set(['accountId', 'entityType', 'entityIds', 'fieldsToUpdate', 'scheduledAt']);
const MAX_ACCOUNT_ID_LENGTH = 128;


/**
 * Checks a POST /bulk-actions body and returns it typed. Pure; throws the first problem as an
 * ApiError whose `details.field` names the offending path.
 *
 * Own keys are read with Object.keys/Object.hasOwn only: JSON.parse creates a real own property
 * called "__proto__", which `in` or a prototype lookup would misread.
 */
export function validateCreateRequest(
  body: unknown,
  registry: RequestSchemas,
  limits: RequestLimits,
  /** The API key's account: the default for an absent accountId, and the only one allowed (403). null: admin, accountId required. */
  callerAccount: string | null = null,
): ValidatedRequest {
  if (!isPlainObject(body)) throw new ApiError('INVALID_BODY');

  // A typo such as "fieldToUpdate" must fail loudly rather than be ignored.
  const unknownKeys = Object.keys(body).filter((key) => !TOP_LEVEL_KEYS.has(key));
  if (unknownKeys.length > 0) {
    throw new ApiError('INVALID_FIELD', `Unknown field(s): ${unknownKeys.join(', ')}`, {
      field: unknownKeys[0],
      unknown: unknownKeys,
      allowed: [...TOP_LEVEL_KEYS],
    });
  }

  const accountId = readAccountId(body, callerAccount);
  checkString(accountId, 'accountId');
  const handler = readHandler(body, registry);
  const entityIds = readEntityIds(body, limits);
  const fieldsToUpdate = readFieldsToUpdate(body, handler, limits);

  const dedupeKey = handler.dedupeKey;
  if (dedupeKey !== undefined && Object.hasOwn(fieldsToUpdate, dedupeKey) && fieldsToUpdate[dedupeKey] !== null) {
    // Giving one key value to two entities would make them duplicates of each other on purpose.
    if (hasTwoDistinct(entityIds)) {
      throw new ApiError('DEDUPE_KEY_CONFLICT', `${dedupeKey} can only be set when the action targets a single entity`, {
        field: `fieldsToUpdate.${dedupeKey}`,
      });
    }
  }

  if (Object.hasOwn(body, 'scheduledAt') && body.scheduledAt !== null) {
    throw new ApiError('SCHEDULING_NOT_SUPPORTED', undefined, { field: 'scheduledAt' });
  }

  return { accountId, entityType: handler.entityType, entityIds, fieldsToUpdate, scheduledAt: null };
}

function readAccountId(body: Record<string, unknown>, callerAccount: string | null): string {
  if (!Object.hasOwn(body, 'accountId')) {
    if (callerAccount !== null) return callerAccount;
    throw missing('accountId');
  }
  const accountId = body.accountId;
  if (typeof accountId !== 'string' || accountId.length === 0 || accountId.length > MAX_ACCOUNT_ID_LENGTH) {
    throw new ApiError('INVALID_FIELD', `accountId must be a non-empty string of at most ${MAX_ACCOUNT_ID_LENGTH} characters`, {
      field: 'accountId',
    });
  }
  if (callerAccount !== null && accountId !== callerAccount) throw new ApiError('ACCOUNT_FORBIDDEN', undefined, { field: 'accountId' });
  return accountId;
}

function readHandler(body: Record<string, unknown>, registry: RequestSchemas): RequestSchema {
  if (!Object.hasOwn(body, 'entityType')) throw missing('entityType');
  const entityType = body.entityType;
  const handler = typeof entityType === 'string' && Object.hasOwn(registry, entityType) ? registry[entityType] : undefined;
  if (handler) return handler;
  const allowed = Object.keys(registry);
  if (typeof entityType !== 'string') {
    throw new ApiError('INVALID_FIELD', 'entityType must be a string', { field: 'entityType', allowed });
  }
  throw new ApiError('UNKNOWN_ENTITY_TYPE', `Unknown entityType "${entityType}"; expected one of ${allowed.join(', ')}`, {
    field: 'entityType',
    allowed,
  });
}

/** Runs on up to a million IDs per request, hence the plain loop and no per-item allocation. */
function readEntityIds(body: Record<string, unknown>, { maxEntityIds, maxEntityIdLength }: RequestLimits): string[] {
  if (!Object.hasOwn(body, 'entityIds')) throw missing('entityIds');
  const ids = body.entityIds;
  if (!Array.isArray(ids) || ids.length === 0) throw new ApiError('INVALID_ENTITY_IDS', undefined, { field: 'entityIds' });
  if (ids.length > maxEntityIds) {
    throw new ApiError('TOO_MANY_ENTITY_IDS', `At most ${maxEntityIds} entity IDs per action; got ${ids.length}`, {
      field: 'entityIds',
      max: maxEntityIds,
      received: ids.length,
    });
  }
  for (let i = 0; i < ids.length; i++) {
    const id: unknown = ids[i];
    if (typeof id !== 'string' || id.length === 0 || id.length > maxEntityIdLength) {
      throw new ApiError(
        'INVALID_ENTITY_IDS',
        `entityIds[${i}] must be a non-empty string of at most ${maxEntityIdLength} characters`,
        { field: `entityIds[${i}]`, max: maxEntityIdLength },
      );
    }
    // The path is built only for a refusal: a string per ID would cost more than the check.
    if (stringProblem(id) !== null) checkString(id, `entityIds[${i}]`);
  }
  return ids as string[];
}

/** Returns a fresh object holding only the validated keys, so nothing unchecked reaches the stores. */
function readFieldsToUpdate(body: Record<string, unknown>, handler: RequestSchema, limits: RequestLimits): FieldUpdates {
  if (!Object.hasOwn(body, 'fieldsToUpdate')) throw missing('fieldsToUpdate');
  const raw = body.fieldsToUpdate;
  if (!isPlainObject(raw)) throw new ApiError('INVALID_FIELD', 'fieldsToUpdate must be an object', { field: 'fieldsToUpdate' });
  const names = Object.keys(raw);
  if (names.length === 0) throw new ApiError('EMPTY_UPDATE', undefined, { field: 'fieldsToUpdate' });
  if (names.length > limits.maxUpdateFields) {
    throw new ApiError('TOO_MANY_UPDATE_FIELDS', `fieldsToUpdate may set at most ${limits.maxUpdateFields} fields; got ${names.length}`, {
      field: 'fieldsToUpdate',
      max: limits.maxUpdateFields,
      received: names.length,
    });
  }

  const fields: FieldUpdates = {};
  for (const name of names) {
    const path = `fieldsToUpdate.${name}`;
    checkFieldName(name, path, limits.maxFieldNameLength);
    const value = raw[name];
    const problem = handler.fields ? checkDeclaredField(handler, name, value, path) : checkUndeclaredValue(value);
    if (problem !== null) {
      throw new ApiError('INVALID_UPDATE_VALUE', `${path} ${problem}`, { field: path, reason: problem });
    }
    checkExactValue(value as FieldValue, path, limits);
    // Safe: checkFieldName has already rejected "__proto__".
    fields[name] = Array.isArray(value) ? [...(value as string[])] : (value as FieldValue);
  }
  return fields;
}

function checkFieldName(name: string, path: string, maxLength: number): void {
  if (name.length === 0 || name.length > maxLength) {
    throw new ApiError('INVALID_FIELD', `Field names must be 1 to ${maxLength} characters`, { field: path, max: maxLength });
  }
  checkString(name, path);
  if (isReservedFieldName(name)) {
    throw new ApiError('RESERVED_FIELD', `${name} cannot be updated in bulk`, { field: path });
  }
}

/** Why `value` cannot be set on a declared field, or null; unknown and read-only names throw. */
function checkDeclaredField(handler: RequestSchema, name: string, value: unknown, path: string): string | null {
  const schema = handler.fields ?? {};
  const spec = Object.hasOwn(schema, name) ? schema[name] : undefined;
  if (!spec) {
    const allowed = Object.keys(schema).filter((field) => !schema[field]?.readOnly);
    throw new ApiError('UNKNOWN_UPDATE_FIELD', `${handler.entityType} has no updatable field "${name}"`, { field: path, allowed });
  }
  if (spec.readOnly) throw new ApiError('READ_ONLY_FIELD', `${path} is read-only`, { field: path, reason: 'is read-only' });
  // checkFieldValue tests the runtime type of every value it accepts, so an unknown is safe to pass.
  return checkFieldValue(spec, value as FieldValue);
}

/** A seed-style handler declares no schema: any JSON scalar or list of strings is accepted. */
function checkUndeclaredValue(value: unknown): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'must be a finite number';
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return null;
  return 'must be a string, number, boolean, null or an array of strings';
}

/**
 * A value that fits its field's type may still be one the stores would not give back exactly
 * (src/actions/exactValues.ts), or be past the request limits, which hold for every type,
 * declared or seed-style. A value here is flat (a scalar or a list of strings): deeper values
 * were refused by the type checks.
 */
function checkExactValue(value: FieldValue, path: string, limits: RequestLimits): void {
  if (typeof value === 'number') {
    const problem = numberProblem(value);
    if (problem !== null) throw new ApiError('UNREPRESENTABLE_NUMBER', `${path} ${problem}`, { field: path, reason: problem });
  } else if (typeof value === 'string') {
    checkFieldString(value, path, limits.maxFieldStringLength);
  } else if (Array.isArray(value)) {
    if (value.length > limits.maxFieldArrayItems) {
      const reason = `must have at most ${limits.maxFieldArrayItems} items`;
      throw new ApiError('INVALID_UPDATE_VALUE', `${path} ${reason}`, { field: path, reason, max: limits.maxFieldArrayItems });
    }
    value.forEach((item, i) => checkFieldString(item, `${path}[${i}]`, limits.maxFieldStringLength));
  }
}

function checkFieldString(value: string, path: string, maxLength: number): void {
  if (value.length > maxLength) {
    const reason = `must be at most ${maxLength} characters`;
    throw new ApiError('INVALID_UPDATE_VALUE', `${path} ${reason}`, { field: path, reason, max: maxLength });
  }
  checkString(value, path);
}

/** Refuses a string the stores would not give back as sent (a lone surrogate, NUL). */
function checkString(value: string, field: string): void {
  const problem = stringProblem(value);
  if (problem !== null) throw new ApiError('INVALID_STRING', `${field} ${problem}`, { field, reason: problem });
}

/** Cheaper than building a Set of a million IDs: one differing ID is enough. */
function hasTwoDistinct(ids: string[]): boolean {
  const first = ids[0];
  for (let i = 1; i < ids.length; i++) if (ids[i] !== first) return true;
  return false;
}

/** A JSON object (not an array, not null, not a class instance): what every request body must be. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function missing(field: string): ApiError {
  return new ApiError('MISSING_FIELD', `${field} is required`, { field });
}
