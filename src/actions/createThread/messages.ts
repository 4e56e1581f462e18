import type { Config } from '../../config';
import { ApiError, toError, type ApiErrorCode } from '../../errors';
import type { CreateResult } from '../createBulkAction';
import type { RateDecision } from '../rateLimiter';
import type { RawCreateRequest } from '../createRequest';
import type { RequestRuleViolation } from '../../handlers/BaseEntityHandler';
import type { FieldUpdates } from '../../types/entities';
import type { RequestSchemaData } from '../validateRequest';

/**
 * What the API thread and the create thread say to each other. Everything here is structured-
 * clonable: errors cross as data (`ThreadError`) and are rebuilt on the other side.
 */

/** The create thread's workerData. */
export interface CreateThreadData {
  config: Config;
  /** Each registered type's declared fields, as data: handler instances cannot cross (their request-level rules run in the API thread). */
  schemas: Readonly<Record<string, RequestSchemaData>>;
  /** Embedded mode: the process's SQLite write lock, shared with the worker threads; null in distributed mode. */
  writeLockBuffer: SharedArrayBuffer | null;
  /** Whether this thread runs the outbox sweeper (a server's API does; tests ask for passes). */
  sweepOutbox: boolean;
}

/** API thread -> create thread. */
export type ToCreateThread =
  | { type: 'create'; id: number; request: RawCreateRequest }
  /** The answer to a `rate-hit`: the API thread owns the process's one rate limiter. */
  | { type: 'rate-decision'; id: number; decision: RateDecision }
  /** The answer to a `rule-check`: the API thread holds the handlers. */
  | { type: 'rule-result'; id: number; violation: RequestRuleViolation | null }
  /** A `rate-hit` or `rule-check` that threw in the API thread. */
  | { type: 'ask-failed'; id: number; error: ThreadError }
  | { type: 'sweep'; id: number }
  | { type: 'stop' };

/** Create thread -> API thread. */
export type FromCreateThread =
  | { type: 'ready' }
  | { type: 'created'; id: number; result: CreateResult }
  | { type: 'failed'; id: number; error: ThreadError }
  | { type: 'rate-hit'; id: number; key: string; at: number }
  /** Run the request-level rule of `entityType` (BaseEntityHandler.validateFieldsToUpdate). */
  | { type: 'rule-check'; id: number; entityType: string; fieldsToUpdate: FieldUpdates }
  | { type: 'swept'; id: number; published: number }
  | { type: 'sweep-failed'; id: number; error: ThreadError }
  | { type: 'stopped' };

/** An error as data: an ApiError keeps its code, message, details and headers; anything else its name, message and stack. */
export type ThreadError =
  | { kind: 'api'; code: ApiErrorCode; message: string; details: Record<string, unknown>; headers: Record<string, string> }
  | { kind: 'error'; name: string; message: string; stack: string | undefined };

export function toThreadError(thrown: unknown): ThreadError {
  if (thrown instanceof ApiError) {
    return { kind: 'api', code: thrown.code, message: thrown.message, details: thrown.details, headers: thrown.headers };
  }
  const error = toError(thrown);
  return { kind: 'error', name: error.name, message: error.message, stack: error.stack };
}

/** The same ApiError (so the same response), or an Error with the original's name, message and stack. */
export function fromThreadError(error: ThreadError): Error {
  if (error.kind === 'api') return new ApiError(error.code, error.message, error.details, error.headers);
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack !== undefined) rebuilt.stack = error.stack;
  return rebuilt;
}

/**
 * The body's bytes ready to post, and what to transfer: a buffer that owns its whole ArrayBuffer
 * (Fastify's body of more than 4 KiB) is moved without a copy; a view into a shared or pooled one
 * (small bodies) is copied, since moving it would take the other bytes with it.
 */
export function transferable(bytes: Uint8Array | null): { bytes: Uint8Array | null; transfer: ArrayBuffer[] } {
  if (bytes === null) return { bytes, transfer: [] };
  const { buffer } = bytes;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) {
    return { bytes: new Uint8Array(buffer), transfer: [buffer] };
  }
  const copy = new Uint8Array(bytes);
  return { bytes: copy, transfer: [copy.buffer] };
}
