import { duplicateKeyCode, PermanentError, toError } from '../errors';
import { PartialBatchError, runWithCrmClient, type BaseEntityHandler } from '../handlers/BaseEntityHandler';
import { CrmClient } from '../handlers/crmClient';
import { handlerFor, type HandlerRegistry } from '../handlers/index';
import type { Logger } from '../observability/logger';
import type { BatchVerdict, Delivery } from '../queue/batchQueue';
import type { EntityStore } from '../store/entityStore';
import type { JobStore, KeyClaim } from '../store/jobStore';
import { TERMINAL_STATUSES, type BatchMessage, type BulkAction, type Outcome } from '../types/entities';
import { isLastAttempt, type RetryPolicy } from './retryPolicy';

/** Named points where tests inject faults (e.g. "die after the entities were written, before their outcomes"). */
export interface FaultPoints {
  /** After the handler wrote the entities, before their outcomes are recorded. */
  afterEntitiesWritten?(batch: BatchMessage): void | Promise<void>;
  /** After the outcomes are recorded, before the batch is counted and acknowledged: a throw here is a worker dying late. */
  afterOutcomesRecorded?(batch: BatchMessage): void | Promise<void>;
  /** After finishBatch counted the batch (and perhaps completed the action), before the verdict reaches the queue. */
  afterBatchFinished?(batch: BatchMessage): void | Promise<void>;
  /** After the queue adapter settled a delivery (acked it, say), before this consumer takes the next (see crashPoints.ts). */
  afterBatchSettled?(): void;
}

export interface ProcessingDeps {
  jobStore: JobStore;
  entityStore: EntityStore;
  handlers: HandlerRegistry;
  retry: RetryPolicy;
  logger: Logger;
  now: () => number;
  faults?: FaultPoints;
  /** Called once, by the batch that finished its action. */
  onActionFinished?: (action: BulkAction) => void | Promise<void>;
}

interface Position {
  seq: number;
  entityId: string;
}

/**
 * Processes one delivered batch (the spec's step 4) and says how to settle it: every position
 * gets an outcome, exactly once, and the batch is counted into the action once (`finishBatch`).
 *
 * The message is checked against the action's stored plan and the planned batch is what runs.
 * Delivery is at-least-once, so the batch may have been (partly) done before: positions that
 * already have an outcome are skipped, and entity updates are idempotent (same fields, same values).
 * A transient error is thrown after recording what was decided, and the queue delivers the batch
 * again after a backoff; on the last attempt (MAX_BATCH_ATTEMPTS) the remaining entities fail with
 * RETRIES_EXHAUSTED and the verdict is 'dead-letter'. A batch of an unknown, finished or cancelled
 * action is acknowledged and dropped; one that is not in its action's plan is dead-lettered.
 */
export async function processBatch(deps: ProcessingDeps, message: BatchMessage, delivery: Delivery): Promise<BatchVerdict> {
  const { jobStore, now, logger } = deps;
  const context = { actionId: message.actionId, batchNo: message.batchNo, attempt: delivery.attempt };
  const action = await jobStore.getAction(message.actionId);
  if (!action) {
    logger.warn(context, 'dropping a batch of an unknown action');
    return 'ack';
  }
  if (TERMINAL_STATUSES.includes(action.status)) {
    logger.warn({ ...context, status: action.status }, 'dropping a batch of an action that is already over');
    return 'ack';
  }
  // The stored plan, not the message, says what a batch is: a message that differs (forged, or
  // from a buggy producer) touches nothing, and its dead letter is there for operators.
  const batch = await jobStore.plannedBatch(message.actionId, message.batchNo);
  if (!batch || !samePositions(batch, message)) {
    logger.error(context, 'dead-lettering a batch that is not in its action\'s plan');
    return 'dead-letter';
  }
  if (action.status !== 'RUNNING') await jobStore.markRunning(action.id, now());

  // Positions that already have an outcome are never done again, whatever the attempt: a batch can
  // also arrive twice as attempt 1 (published by the create and by the outbox sweeper).
  const all = toPositions(batch);
  const pending = await withoutRecorded(jobStore, batch.actionId, all);
  if (delivery.attempt > 1) logger.warn({ ...context, alreadyRecorded: all.length - pending.length }, 'batch delivered again');

  let verdict: BatchVerdict = 'ack';
  if (pending.length > 0 && delivery.attempt > deps.retry.maxAttempts) {
    // The last attempt died before settling its entities (a worker was killed, say).
    const reason = `batch ${batch.batchNo} was delivered ${delivery.attempt} times without finishing`;
    logger.error(context, reason);
    await jobStore.recordOutcomes(batch.actionId, failAll(pending, 'RETRIES_EXHAUSTED', reason), now());
    verdict = 'dead-letter';
  } else if (pending.length > 0 && batch.firstSeqs) {
    await jobStore.recordOutcomes(batch.actionId, repeatOutcomes(batch, pending), now());
  } else if (pending.length > 0) {
    verdict = await processEntities(deps, batch, pending, delivery);
  }
  await deps.faults?.afterOutcomesRecorded?.(batch);

  const finished = await jobStore.finishBatch(batch.actionId, { batchNo: batch.batchNo, seqs: batch.seqs }, now());
  if (finished) await deps.onActionFinished?.(finished);
  await deps.faults?.afterBatchFinished?.(batch);
  return verdict;
}

/** Same action, batch, positions and IDs as planned (the plan also fixes account, type and fields). */
function samePositions(planned: BatchMessage, message: BatchMessage): boolean {
  const { seqs, entityIds } = message;
  if (!Array.isArray(seqs) || !Array.isArray(entityIds)) return false;
  if (seqs.length !== planned.seqs.length || entityIds.length !== planned.entityIds.length) return false;
  for (let i = 0; i < seqs.length; i++) {
    if (seqs[i] !== planned.seqs[i] || entityIds[i] !== planned.entityIds[i]) return false;
  }
  return true;
}

/** One try at the entities; on a transient error, rethrows (retry) or, on the last attempt, fails what is left. */
async function processEntities(deps: ProcessingDeps, batch: BatchMessage, pending: Position[], delivery: Delivery): Promise<BatchVerdict> {
  const { jobStore, now, logger } = deps;
  try {
    const outcomes = await decideOutcomes(deps, batch, pending);
    await deps.faults?.afterEntitiesWritten?.(batch);
    await jobStore.recordOutcomes(batch.actionId, outcomes, now());
    return 'ack';
  } catch (thrown) {
    const error = toError(thrown);
    const context = { err: error, actionId: batch.actionId, batchNo: batch.batchNo, attempt: delivery.attempt };
    const permanent = error instanceof PermanentError;
    if (!permanent && !isLastAttempt(delivery.attempt, deps.retry)) throw error; // the worker logs the hand-back
    logger.error(context, permanent ? 'batch failed permanently' : 'batch failed on its last attempt');
    const rest = await withoutRecorded(jobStore, batch.actionId, pending);
    await jobStore.recordOutcomes(batch.actionId, failAll(rest, permanent ? error.code : 'RETRIES_EXHAUSTED', error.message), now());
    return permanent ? 'ack' : 'dead-letter';
  }
}

/** Existence, account scope and de-duplication, then the handler: one outcome per pending position. */
async function decideOutcomes(deps: ProcessingDeps, batch: BatchMessage, pending: Position[]): Promise<Outcome[]> {
  const handler = handlerFor(deps.handlers, batch.entityType);
  if (!handler) return failAll(pending, 'UNKNOWN_ENTITY_TYPE', `no handler is registered for ${batch.entityType}`);

  const snapshots = await deps.entityStore.getMany(batch.entityType, batch.accountId, pending.map((p) => p.entityId), {
    withData: handler.needsCurrentData(batch.fieldsToUpdate),
  });
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  const outcomes: Outcome[] = [];
  const candidates: Position[] = [];
  for (const p of pending) {
    if (byId.has(p.entityId)) candidates.push(p);
    else outcomes.push(outcome(p, 'FAILED', 'NOT_FOUND', `no ${batch.entityType} ${p.entityId} in account ${batch.accountId}`));
  }

  const eligible = await skipDuplicateKeys(deps.jobStore, handler, batch, candidates, byId, outcomes);
  if (eligible.length === 0) return outcomes;

  const crm = new CrmClient(deps.entityStore, batch.entityType, batch.accountId, deps.now);
  const entities = eligible.map((p) => byId.get(p.entityId)!);
  const positionOf = new Map(eligible.map((p) => [p.entityId, p]));
  let results;
  try {
    results = await runWithCrmClient(crm, () => handler.processBatch(entities, batch.fieldsToUpdate));
  } catch (thrown) {
    // What was decided before the handler (NOT_FOUND, duplicates), and what the handler finished
    // before it failed, is final: keep it, so a retry or an exhausted batch only concerns the rest.
    if (thrown instanceof PartialBatchError) {
      for (const r of thrown.finished) outcomes.push(outcome(positionOf.get(r.entityId)!, r.status, r.code, r.message));
    }
    if (outcomes.length > 0) await deps.jobStore.recordOutcomes(batch.actionId, outcomes, deps.now());
    throw thrown instanceof PartialBatchError ? thrown.cause : thrown;
  }
  const resultById = new Map(results.map((r) => [r.entityId, r]));
  for (const p of eligible) {
    const r = resultById.get(p.entityId);
    if (r) outcomes.push(outcome(p, r.status, r.code, r.message));
    else outcomes.push(outcome(p, 'FAILED', 'UPDATE_FAILED', `the ${batch.entityType} handler returned no result`));
  }
  return outcomes;
}

/**
 * "Skip duplicate entities based on email": of the entities in one action that share the type's
 * de-dup key, the first to be processed is updated and the rest are SKIPPED. Only keys that the
 * store says are shared in the account need a claim, which keeps the claim table small.
 */
async function skipDuplicateKeys(
  jobStore: JobStore,
  handler: BaseEntityHandler,
  batch: BatchMessage,
  candidates: Position[],
  byId: Map<string, { dedupeKey: string | null; keyShared: boolean }>,
  outcomes: Outcome[],
): Promise<Position[]> {
  const field = handler.dedupeKey;
  if (field === undefined) return candidates;
  const claims: KeyClaim[] = [];
  for (const p of candidates) {
    const s = byId.get(p.entityId)!;
    if (s.keyShared && s.dedupeKey !== null) claims.push({ key: s.dedupeKey, seq: p.seq, entityId: p.entityId });
  }
  if (claims.length === 0) return candidates;
  const owners = await jobStore.claimKeys(batch.actionId, claims);
  const eligible: Position[] = [];
  const code = duplicateKeyCode(field);
  for (const p of candidates) {
    const key = byId.get(p.entityId)!.dedupeKey;
    const owner = key === null ? undefined : owners.get(key);
    if (!owner || owner.seq === p.seq) eligible.push(p);
    else outcomes.push(outcome(p, 'SKIPPED', code, `same ${field} as ${owner.entityId}, which holds it in this action`));
  }
  return eligible;
}

function repeatOutcomes(batch: BatchMessage, pending: Position[]): Outcome[] {
  const firstSeqOf = new Map(batch.seqs.map((seq, i) => [seq, batch.firstSeqs![i]!]));
  return pending.map((p) => outcome(p, 'SKIPPED', 'DUPLICATE_ID', `entity ID repeats the one at position ${firstSeqOf.get(p.seq)}`));
}

function toPositions(batch: BatchMessage): Position[] {
  return batch.entityIds.map((entityId, i) => ({ entityId, seq: batch.seqs[i]! }));
}

async function withoutRecorded(jobStore: JobStore, actionId: string, positions: Position[]): Promise<Position[]> {
  const recorded = await jobStore.recordedSeqs(actionId, positions.map((p) => p.seq));
  return recorded.size === 0 ? positions : positions.filter((p) => !recorded.has(p.seq));
}

function failAll(positions: Position[], code: string, message: string): Outcome[] {
  return positions.map((p) => outcome(p, 'FAILED', code, message));
}

function outcome(p: Position, status: Outcome['status'], code: string | null, message: string | null): Outcome {
  return { seq: p.seq, entityId: p.entityId, status, code, message };
}
