import type { Config } from '../config';
import { ApiError, toError } from '../errors';
import type { Logger } from '../observability/logger';
import type { BatchQueue } from '../queue/batchQueue';
import { CreateInProgressError, type ExistingAction, type InsertActionResult, type JobStore } from '../store/jobStore';
import type { BulkAction } from '../types/entities';
import { actionView } from './actionView';
import { publishAction } from './outbox';
import { payloadHash, planBatches, splitIntoBatches } from './planBatches';
import type { RateLimiter } from './rateLimiter';
import { checkRequestRule, validateCreateRequest, type RequestSchemas } from './validateRequest';

export interface CreateDeps {
  jobStore: JobStore;
  queue: BatchQueue;
  rateLimiter: RateLimiter;
  /** Each type's declared fields and request-level rule (a HandlerRegistry will do). */
  handlers: RequestSchemas;
  logger: Logger;
  config: Pick<Config, 'batchSize' | 'maxEntityIds' | 'inputLimits' | 'duplicateWindowSeconds' | 'outbox'>;
  now: () => number;
  newId: () => string;
  /** Tests: a crash point between the stored action and its publish (src/processing/crashPoints.ts). */
  faults?: { afterActionStored?(): void };
}

/** `body` is the exact JSON to send: a replay must return byte-for-byte what the first call did. */
export type CreateResult = { kind: 'created' | 'replayed'; status: number; body: string; actionId: string };

/** Printable ASCII, as HTTP header values are safest to echo and store. */
const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,200}$/;

/**
 * The create path (the spec's steps 1 to 3): validate -> duplicate detection -> the type's
 * request-level rule -> rate limit ->
 * job record with its batch plan -> publish the batches.
 *
 * Duplicate detection and the Idempotency-Key lookup happen again inside the insert, so two
 * concurrent identical requests (in any API processes) cannot both create an action.
 * Throws ApiError for a client's mistake; a store error propagates (nothing was created).
 */
export async function createBulkAction(
  deps: CreateDeps,
  body: unknown,
  idempotencyKey: string | null,
  /** The API key's account (the body may leave accountId out); null: an admin key, the body names it. */
  callerAccount: string | null = null,
): Promise<CreateResult> {
  const { jobStore, config } = deps;
  if (idempotencyKey !== null && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw new ApiError('INVALID_FIELD', 'Idempotency-Key must be 1 to 200 printable ASCII characters', { field: 'Idempotency-Key' });
  }
  const request = validateCreateRequest(body, deps.handlers, { maxEntityIds: config.maxEntityIds, ...config.inputLimits }, callerAccount);

  const now = deps.now();
  const { accountId, entityType, entityIds, fieldsToUpdate } = request;
  const hash = payloadHash(accountId, entityType, entityIds, fieldsToUpdate);
  // A request with its own Idempotency-Key says what counts as "the same request"; the payload
  // window is only the safety net for clients that send none.
  const duplicateSince = idempotencyKey !== null || config.duplicateWindowSeconds <= 0 ? null : now - config.duplicateWindowSeconds * 1000;

  // Duplicate detection answers before the rate limit: a replay or a 409 creates nothing, so it
  // must not use up the account's budget (a client retrying after a timeout would be punished twice).
  const earlier = await jobStore.findExisting(accountId, idempotencyKey, hash, duplicateSince);
  if (earlier) return answerExisting(earlier, hash, config.duplicateWindowSeconds);
  // After the replay: a retry of an accepted request gets its 202 back even if a rule added
  // since would refuse it now. Before the rate limit: a refused request uses no budget.
  await checkRequestRule(deps.handlers, request);

  const decision = await deps.rateLimiter.hit(accountId, now);
  if (!decision.allowed) {
    const seconds = decision.retryAfterSeconds;
    throw new ApiError('RATE_LIMITED', undefined, { retryAfterSeconds: seconds }, { 'Retry-After': String(seconds) });
  }

  const plan = planBatches(entityIds);
  const action: BulkAction = {
    id: deps.newId(),
    accountId,
    entityType,
    status: 'PENDING',
    fieldsToUpdate,
    totalEntities: entityIds.length,
    createdAt: now,
    scheduledAt: null,
    startedAt: null,
    completedAt: null,
    progress: { processed: 0, succeeded: 0, failed: 0, skipped: 0 },
    processingMs: 0,
  };
  const creationResponse = JSON.stringify(actionView(action));
  const batches = splitIntoBatches({ actionId: action.id, accountId, entityType, fieldsToUpdate }, plan, config.batchSize);

  // The transactional outbox: the action and its whole batch plan are stored first (the commit
  // point), then published. A crash before the store leaves nothing; a crash after it leaves a
  // complete action that the outbox sweeper publishes. No batch ever exists without its action.
  let inserted: InsertActionResult;
  try {
    inserted = await jobStore.insertAction({ action, payloadHash: hash, idempotencyKey, creationResponse, batches }, duplicateSince);
  } catch (thrown) {
    if (!(thrown instanceof CreateInProgressError)) throw thrown;
    // Another API process is creating the same request right now: its answer exists in a moment.
    throw new ApiError('CREATE_IN_PROGRESS', undefined, { actionId: thrown.actionId, reason: thrown.reason }, { 'Retry-After': '1' });
  }
  if (!inserted.created) return answerExisting(inserted, hash, config.duplicateWindowSeconds);
  deps.faults?.afterActionStored?.();

  try {
    await publishAction(deps, action.id, batches);
  } catch (thrown) {
    // The action is stored and will run: the sweeper publishes it. The client's 202 stays true.
    deps.logger.warn(
      { err: toError(thrown), actionId: action.id, publishWithinMs: config.outbox.graceMs + config.outbox.sweepIntervalMs },
      'could not publish the batches of a new action; the outbox sweeper will',
    );
  }
  return { kind: 'created', status: 202, body: creationResponse, actionId: action.id };
}

/** A replay of the original response, or the 409 that names the earlier action. */
function answerExisting(earlier: ExistingAction, hash: string, windowSeconds: number): CreateResult {
  if (earlier.reason === 'IDEMPOTENCY_KEY') {
    if (earlier.payloadHash === hash) {
      return { kind: 'replayed', status: 202, body: earlier.creationResponse, actionId: earlier.existing.id };
    }
    throw new ApiError('IDEMPOTENCY_KEY_REUSED', undefined, { actionId: earlier.existing.id });
  }
  throw new ApiError(
    'DUPLICATE_ACTION',
    `An identical bulk action (${earlier.existing.id}) was created within the last ${windowSeconds} seconds`,
    { actionId: earlier.existing.id, status: earlier.existing.status },
  );
}
