import { ApiError } from '../errors';
import { createBulkAction, type CreateDeps, type CreateResult } from './createBulkAction';
import { parseExactJson } from './exactJson';
import { isPlainObject } from './validateRequest';

/**
 * A create request as the HTTP layer hands it over: the body's raw bytes, not yet parsed, so
 * that the parse of a million IDs happens wherever the create runs (the create thread), never on
 * the event loop that answers HTTP.
 */
export interface RawCreateRequest {
  /** The body's bytes (UTF-8 JSON); null when the request had none. */
  body: Uint8Array | null;
  /** The type named by POST /api/bulk-actions/:entityType; null on POST /api/bulk-actions. */
  routeEntityType: string | null;
  idempotencyKey: string | null;
  /** The account of the request's API key (src/auth/); null for an admin key, which must name the account in the body. */
  callerAccount: string | null;
  /** When the request was received (epoch ms): the action's createdAt and the windows' "now". */
  receivedAt: number;
}

/** Runs creates: in this thread (`inProcessCreates`) or in the create thread (`startCreateThread`). */
export interface CreateRunner {
  /** Rejects with ApiError for a client's mistake or a refused create; anything else is a server error. */
  create(request: RawCreateRequest): Promise<CreateResult>;
}

/** The create use case from raw bytes to the answer: parse, then createBulkAction. Every failure is a rejection. */
export async function runCreate(deps: CreateDeps, request: RawCreateRequest): Promise<CreateResult> {
  const body = createBody(request.body, request.routeEntityType);
  return createBulkAction({ ...deps, now: () => request.receivedAt }, body, request.idempotencyKey, request.callerAccount);
}

/** Creates on the calling thread: for tests and tools that drive createBulkAction directly. */
export function inProcessCreates(deps: CreateDeps): CreateRunner {
  return { create: async (request) => runCreate(deps, request) };
}

/**
 * The request body as createBulkAction takes it. Parses the bytes as Fastify's JSON parser did
 * when it parsed them on the event loop (a leading BOM dropped, no prototype-poisoning scan, the
 * same error codes and messages), except that what JSON.parse would change is refused: bytes that
 * are not UTF-8 and numbers a double cannot give back as sent (src/actions/exactJson.ts).
 * On the type route the URL names the type, and a body that names one too is refused.
 */
export function createBody(bytes: Uint8Array | null, routeEntityType: string | null): unknown {
  const body = bytes === null ? undefined : parseExactJson(bytes);
  if (routeEntityType === null) return body;
  if (!isPlainObject(body)) throw new ApiError('INVALID_BODY');
  if (Object.hasOwn(body, 'entityType')) {
    throw new ApiError('INVALID_FIELD', 'entityType comes from the URL on this route', { field: 'entityType' });
  }
  return { ...body, entityType: routeEntityType };
}
