import { PermanentError, toError } from '../errors';
import { PartialBatchError, runWithCrmClient, type EntityResult } from '../handlers/BaseEntityHandler';
import { CrmClient } from '../handlers/crmClient';
import { handlerFor, type HandlerRegistry } from '../handlers/index';
import type { Logger } from '../observability/logger';
import type { BatchVerdict, Delivery } from '../queue/batchQueue';
import { writerStamp, type EntityStore } from '../store/entityStore';
import type { JobStore } from '../store/jobStore';
import { TERMINAL_STATUSES, type BatchMessage, type BulkAction, type Outcome } from '../types/entities';
import { skipDuplicateKeys } from './duplicateKeys';
import { failAll, outcome, repeatOutcomes, superseded, toPositions, withoutRecorded, type Position } from './outcomes';
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


/**
 * Processes one delivered batch (the spec's step 4) and says how to settle it: every position
 * gets an outcome, exactly once, and the batch is counted into the action once (`finishBatch`).
 *
 * The message is checked against the action's stored plan and the planned batch is what runs.
 * Delivery is at-least-once, so the batch may have been (partly) done before: positions that
 * already have an outcome are skipped, and entity updates are idempotent (same fields, same values).
 * Every write is conditional on the entity's writer stamp: the action created later wins, and an
 * older action's write that would overwrite a newer one's ends SKIPPED SUPERSEDED.
 *
 * The attempt number is checked before anything else. A transient error on an attempt before the
 * last (MAX_BATCH_ATTEMPTS) is thrown after recording what was decided, and the queue delivers the
 * batch again after a backoff. Any error on the last attempt, wherever it comes from, and any
 * delivery past it, give up on the batch (`giveUp`): what this action wrote is SUCCESS, the rest
 * FAILED RETRIES_EXHAUSTED, and the verdict is 'dead-letter'. A batch of a finished or cancelled
 * action is acknowledged and dropped; one of an unknown action, or not in its action's plan, is
 * dead-lettered at once (it can never be processed).
 */
export async function processBatch(deps: ProcessingDeps, message: BatchMessage, delivery: Delivery): Promise<BatchVerdict> {
  // Processing time starts here: the action's durationMs is the union of these intervals.
  const startedAt = deps.now();
  if (delivery.attempt > deps.retry.maxAttempts) {
    // The last attempt died before settling its entities (a worker was killed, say).
    return giveUp(deps, message, delivery, startedAt, `batch ${message.batchNo} was delivered ${delivery.attempt} times without finishing`);
  }
  try {
    return await processDelivery(deps, message, delivery, startedAt);
  } catch (thrown) {
    if (!isLastAttempt(delivery.attempt, deps.retry)) throw thrown; // the worker logs the hand-back
    return giveUp(deps, message, delivery, startedAt, `batch ${message.batchNo} failed on its last attempt: ${toError(thrown).message}`);
  }
}

async function processDelivery(deps: ProcessingDeps, message: BatchMessage, delivery: Delivery, startedAt: number): Promise<BatchVerdict> {
  const { jobStore, now, logger } = deps;
  const context = { actionId: message.actionId, batchNo: message.batchNo, attempt: delivery.attempt };
  const planned = await plannedBatchOf(deps, message, delivery);
  if (!('batch' in planned)) return planned.verdict;
  const { action, batch } = planned;
  if (action.status !== 'RUNNING') await jobStore.markRunning(action.id, now());

  // Positions that already have an outcome are never done again, whatever the attempt: a batch can
  // also arrive twice as attempt 1 (published by the create and by the outbox sweeper).
  const all = toPositions(batch);
  const pending = await withoutRecorded(jobStore, batch.actionId, all);
  if (delivery.attempt > 1) logger.warn({ ...context, alreadyRecorded: all.length - pending.length }, 'batch delivered again');

  if (pending.length > 0 && batch.firstSeqs) {
    await jobStore.recordOutcomes(batch.actionId, repeatOutcomes(batch, pending), now());
  } else if (pending.length > 0) {
    await processEntities(deps, action, batch, pending, delivery);
  }
  await deps.faults?.afterOutcomesRecorded?.(batch);
  await finish(deps, batch, startedAt);
  return 'ack';
}

/**
 * The action and the planned copy of the delivered batch, or the verdict for a batch that must not
 * run: an unknown action's (forged, or garbage that parsed) and one that is not in its action's
 * plan are dead-lettered for operators; a finished or cancelled action's is acked and dropped.
 */
async function plannedBatchOf(
  deps: ProcessingDeps,
  message: BatchMessage,
  delivery: Delivery,
): Promise<{ action: BulkAction; batch: BatchMessage } | { verdict: BatchVerdict }> {
  const context = { actionId: message.actionId, batchNo: message.batchNo, attempt: delivery.attempt };
  const action = await deps.jobStore.getAction(message.actionId);
  if (!action) {
    deps.logger.error(context, 'dead-lettering a batch of an unknown action');
    return { verdict: 'dead-letter' };
  }
  if (TERMINAL_STATUSES.includes(action.status)) {
    deps.logger.warn({ ...context, status: action.status }, 'dropping a batch of an action that is already over');
    return { verdict: 'ack' };
  }
  // The stored plan, not the message, says what a batch is: a message that differs (forged, or
  // from a buggy producer) touches nothing, and its dead letter is there for operators.
  const batch = await deps.jobStore.plannedBatch(message.actionId, message.batchNo);
  if (!batch || !samePositions(batch, message)) {
    deps.logger.error(context, 'dead-lettering a batch that is not in its action\'s plan');
    return { verdict: 'dead-letter' };
  }
  return { action, batch };
}

/** Counts the batch into its action (exactly once), with this delivery's processing interval. */
async function finish(deps: ProcessingDeps, batch: BatchMessage, startedAt: number): Promise<void> {
  const finished = await deps.jobStore.finishBatch(batch.actionId, { batchNo: batch.batchNo, seqs: batch.seqs, startedAt }, deps.now());
  if (finished) await deps.onActionFinished?.(finished);
  await deps.faults?.afterBatchFinished?.(batch);
}

/**
 * Settles a batch that ran out of attempts: its unrecorded positions get outcomes (SUCCESS where
 * the entity carries this action's writer stamp, since written means SUCCESS whatever failed
 * after; SKIPPED SUPERSEDED where a newer action's; FAILED RETRIES_EXHAUSTED for the rest), the
 * batch is counted, and the verdict is 'dead-letter'. If that itself fails, it depends on why: while
 * the store does not answer, or until delivery 2 × MAX_BATCH_ATTEMPTS, the batch is handed back
 * (thrown) and settled on a later delivery; past that, with the store answering (a corrupt plan,
 * say), it is dead-lettered as it is, so it does not come back forever.
 */
async function giveUp(deps: ProcessingDeps, message: BatchMessage, delivery: Delivery, startedAt: number, reason: string): Promise<BatchVerdict> {
  const { jobStore, logger } = deps;
  const context = { actionId: message.actionId, batchNo: message.batchNo, attempt: delivery.attempt };
  logger.error({ ...context, reason }, 'giving up on the batch: settling what is left and dead-lettering it');
  try {
    const planned = await plannedBatchOf(deps, message, delivery);
    if (!('batch' in planned)) return planned.verdict;
    const { action, batch } = planned;
    const pending = await withoutRecorded(jobStore, batch.actionId, toPositions(batch));
    const outcomes = batch.firstSeqs ? repeatOutcomes(batch, pending) : await settleUnfinished(deps, action, batch, pending, 'RETRIES_EXHAUSTED', reason);
    await jobStore.recordOutcomes(batch.actionId, outcomes, deps.now());
    await finish(deps, batch, startedAt);
    return 'dead-letter';
  } catch (thrown) {
    const error = toError(thrown);
    // Settling gets as many deliveries again as processing had: a store failing over or a write
    // lock timing out passes, and the outcomes are recorded on a later delivery. While the store
    // does not answer at all, the batch always comes back. Only an error that outlasts that budget
    // with the store answering (a corrupt plan, say) is dead-lettered as it is.
    const storeAnswers = await jobStore.ping().then(() => true, () => false);
    if (!storeAnswers || delivery.attempt < settleDeadline(deps.retry)) throw error;
    logger.error({ ...context, err: error }, 'this batch could not be settled: dead-lettering it as it is; its action stays RUNNING');
    return 'dead-letter';
  }
}

/** The delivery from which a batch that cannot be settled is dead-lettered unsettled: twice MAX_BATCH_ATTEMPTS. */
function settleDeadline(retry: RetryPolicy): number {
  return retry.maxAttempts * 2;
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

/**
 * One try at the entities. A PermanentError for the whole batch fails what is left with its code;
 * any other error is thrown: the batch is retried, or given up on by `processBatch` on its last attempt.
 */
async function processEntities(deps: ProcessingDeps, action: BulkAction, batch: BatchMessage, pending: Position[], delivery: Delivery): Promise<void> {
  const { jobStore, now, logger } = deps;
  try {
    const outcomes = await decideOutcomes(deps, action, batch, pending);
    await deps.faults?.afterEntitiesWritten?.(batch);
    await jobStore.recordOutcomes(batch.actionId, outcomes, now());
  } catch (thrown) {
    if (!(thrown instanceof PermanentError)) throw thrown;
    logger.error({ err: thrown, actionId: batch.actionId, batchNo: batch.batchNo, attempt: delivery.attempt }, 'batch failed permanently');
    const rest = await withoutRecorded(jobStore, batch.actionId, pending);
    await jobStore.recordOutcomes(batch.actionId, await settleUnfinished(deps, action, batch, rest, thrown.code, thrown.message), now());
  }
}

/**
 * Outcomes for positions whose processing failed for good, by what the entity store says happened
 * to each entity: this action's writer stamp means it was written (SUCCESS: the outcome says what
 * happened to the entity, whatever failed after the write); a newer action's means SKIPPED
 * SUPERSEDED; anything else fails with `code`. One read of the stamps, whatever the number.
 */
async function settleUnfinished(deps: ProcessingDeps, action: BulkAction, batch: BatchMessage, positions: Position[], code: string, detail: string): Promise<Outcome[]> {
  if (positions.length === 0) return [];
  const stamp = writerStamp(action.createdAt, action.id);
  const found = await deps.entityStore.getMany(batch.entityType, batch.accountId, positions.map((p) => p.entityId), { withData: false });
  const writerOf = new Map(found.map((s) => [s.id, s.writer]));
  return positions.map((p) => {
    const writer = writerOf.get(p.entityId) ?? null;
    if (writer === stamp) return outcome(p, 'SUCCESS', null, null);
    if (writer !== null && writer > stamp) return superseded(p);
    return outcome(p, 'FAILED', code, { detail });
  });
}

/** Existence, account scope and de-duplication, then the handler: one outcome per pending position. */
async function decideOutcomes(deps: ProcessingDeps, action: BulkAction, batch: BatchMessage, pending: Position[]): Promise<Outcome[]> {
  const handler = handlerFor(deps.handlers, batch.entityType);
  if (!handler) return failAll(pending, 'UNKNOWN_ENTITY_TYPE');

  const snapshots = await deps.entityStore.getMany(batch.entityType, batch.accountId, pending.map((p) => p.entityId), {
    withData: handler.needsCurrentData(batch.fieldsToUpdate),
  });
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  const stamp = writerStamp(action.createdAt, action.id);
  const outcomes: Outcome[] = [];
  const candidates: Position[] = [];
  for (const p of pending) {
    const snapshot = byId.get(p.entityId);
    if (!snapshot) outcomes.push(outcome(p, 'FAILED', 'NOT_FOUND'));
    // A newer action wrote it already: this one's write would overwrite it, so it is not attempted.
    else if (snapshot.writer !== null && snapshot.writer > stamp) outcomes.push(superseded(p));
    else candidates.push(p);
  }

  const eligible = await skipDuplicateKeys(deps.jobStore, handler, batch, candidates, byId, outcomes);
  if (eligible.length === 0) return outcomes;

  // Its writes are conditional on the stamp too: a newer action that writes after the read above wins.
  const crm = new CrmClient(deps.entityStore, batch.entityType, batch.accountId, deps.now, stamp);
  const entities = eligible.map((p) => byId.get(p.entityId)!);
  const positionOf = new Map(eligible.map((p) => [p.entityId, p]));
  let results;
  try {
    results = await runWithCrmClient(crm, () => handler.processBatch(entities, batch.fieldsToUpdate));
  } catch (thrown) {
    // What was decided before the handler (NOT_FOUND, duplicates), and what the handler finished
    // before it failed, is final: keep it, so a retry or an exhausted batch only concerns the rest.
    if (thrown instanceof PartialBatchError) {
      for (const r of thrown.finished) outcomes.push(resultOutcome(positionOf.get(r.entityId)!, r, crm, batch));
    }
    if (outcomes.length > 0) await deps.jobStore.recordOutcomes(batch.actionId, outcomes, deps.now());
    throw thrown instanceof PartialBatchError ? thrown.cause : thrown;
  }
  const resultById = new Map(results.map((r) => [r.entityId, r]));
  for (const p of eligible) outcomes.push(resultOutcome(p, resultById.get(p.entityId), crm, batch));
  return outcomes;
}

/**
 * A position's outcome from the handler's result, corrected by what its writes through the CRM
 * client found: superseded wins over anything the handler said, an entity it wrote is SUCCESS even
 * when the handler then failed it (or returned nothing for it), and a SUCCESS whose write found
 * no entity is NOT_FOUND (a handler written as the spec's extension guide shows ignores what `update` returns).
 */
function resultOutcome(p: Position, r: EntityResult | undefined, crm: CrmClient, batch: BatchMessage): Outcome {
  if (crm.superseded.has(p.entityId)) return superseded(p);
  // Written means SUCCESS: the outcome says what happened to the entity, whatever failed after the write.
  if (crm.written.has(p.entityId)) return outcome(p, 'SUCCESS', null, null);
  if (!r) return outcome(p, 'FAILED', 'UPDATE_FAILED', { detail: `the ${batch.entityType} handler returned no result` });
  if (r.status === 'SUCCESS' && crm.missing.has(p.entityId)) return outcome(p, 'FAILED', 'NOT_FOUND');
  // A handler's own words are kept (as `detail`); without them the code's template says it.
  return outcome(p, r.status, r.code, r.message === null ? null : { detail: r.message });
}
