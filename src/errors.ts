/**
 * The error catalogue: every error a client can see has a stable code, an HTTP status and a message.
 * Routes throw `ApiError`s; one handler in src/api/errorHandler.ts turns them into responses.
 */
export const API_ERRORS = {
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  INVALID_BODY: { status: 400, message: 'The request body must be a JSON object.' },
  MISSING_FIELD: { status: 400, message: 'A required field is missing.' },
  INVALID_FIELD: { status: 400, message: 'A field has an invalid value.' },
  UNKNOWN_ENTITY_TYPE: { status: 400, message: 'The entity type is not registered.' },
  INVALID_ENTITY_IDS: { status: 400, message: 'entityIds must be a non-empty array of non-empty strings.' },
  TOO_MANY_ENTITY_IDS: { status: 400, message: 'Too many entity IDs in one action.' },
  EMPTY_UPDATE: { status: 400, message: 'fieldsToUpdate must set at least one field.' },
  UNKNOWN_UPDATE_FIELD: { status: 400, message: 'The entity type has no such updatable field.' },
  INVALID_UPDATE_VALUE: { status: 400, message: 'The value does not match the field schema.' },
  READ_ONLY_FIELD: { status: 400, message: 'The field is read-only.' },
  RESERVED_FIELD: { status: 400, message: 'The field name is reserved.' },
  DEDUPE_KEY_CONFLICT: { status: 400, message: 'A de-duplication key cannot be set to one value on more than one entity.' },
  UPDATE_RULE_VIOLATED: { status: 400, message: 'fieldsToUpdate breaks a rule of the entity type; details.rule names it.' },
  SCHEDULING_NOT_SUPPORTED: { status: 400, message: 'scheduledAt is not supported yet.' },
  INVALID_QUERY: { status: 400, message: 'A query parameter has an invalid value.' },
  INVALID_UTF8: { status: 400, message: 'The request body is not valid UTF-8.' },
  INVALID_STRING: { status: 400, message: 'A string is not well-formed Unicode (a lone surrogate) or contains U+0000; it cannot be stored as sent.' },
  UNREPRESENTABLE_NUMBER: {
    status: 400,
    message: 'A number cannot be stored exactly as sent: numbers must be finite, within ±(2^53 - 1), not -0, and have no more digits than a double holds.',
  },
  TOO_MANY_UPDATE_FIELDS: { status: 400, message: 'fieldsToUpdate sets too many fields.' },
  INVALID_URL: { status: 400, message: 'The URL is malformed.' },
  API_KEY_IN_QUERY: { status: 400, message: 'API keys go in the Authorization header (Bearer), never in the URL; revoke a key that was sent in one.' },
  UNAUTHORIZED: { status: 401, message: 'Send a valid API key: Authorization: Bearer <key>.' },
  ACCOUNT_FORBIDDEN: { status: 403, message: 'This API key cannot act for that account.' },
  ACTION_NOT_FOUND: { status: 404, message: 'No bulk action has this id.' },
  ENTITY_NOT_FOUND: { status: 404, message: 'No entity of this type has this id in this account.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route.' },
  DUPLICATE_ACTION: { status: 409, message: 'The same bulk action was submitted recently.' },
  IDEMPOTENCY_KEY_REUSED: { status: 409, message: 'This Idempotency-Key was used with a different request.' },
  CREATE_IN_PROGRESS: { status: 409, message: 'An identical request is being created right now; retry shortly.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  URI_TOO_LONG: { status: 414, message: 'A path segment of the URL is too long.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  RATE_LIMITED: { status: 429, message: 'Too many bulk actions for this account; retry later.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  STORE_UNAVAILABLE: { status: 503, message: 'The job store cannot be reached right now; retry after Retry-After seconds (a create with the same Idempotency-Key is safe to retry).' },
  SERVER_BUSY: { status: 503, message: 'Too many large create requests at once; retry after Retry-After seconds.' },
  CREATE_INTERRUPTED: {
    status: 503,
    message: 'The create was interrupted before it answered; it may or may not have been stored. Retry with the same Idempotency-Key.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? API_ERRORS[code].message);
    this.name = 'ApiError';
    this.status = API_ERRORS[code].status;
  }
}

/** `DUPLICATE_EMAIL` for the key `email`: the code of an entity skipped by a type's de-duplication key. */
export function duplicateKeyCode(field: string): string {
  return `DUPLICATE_${field.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * Thrown by a handler for an entity that can never succeed (bad data, a business rule).
 * The entity fails with `code`; the batch is not retried. Anything else a handler throws is transient.
 */
export class PermanentError extends Error {
  constructor(
    message: string,
    readonly code: string = 'UPDATE_FAILED',
  ) {
    super(message);
    this.name = 'PermanentError';
  }
}

/** Whatever was thrown, as an Error. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}
