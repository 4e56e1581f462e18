import { setTimeout as sleep } from 'node:timers/promises';
import { duplicateKeyCode, PermanentError, toError } from '../errors';
import { PartialBatchError, runWithCrmClient, type BaseEntityHandler } from '../handlers/BaseEntityHandler';
import { CrmClient } from '../handlers/crmClient';
import { handlerFor, type HandlerRegistry } from '../handlers/index';
import type { Logger } from '../observability/logger';
import type { Delivery } from '../queue/batchQueue';
import type { EntityStore } from '../store/entityStore';
import type { JobStore, KeyClaim } from '../store/jobStore';
import { TERMINAL_STATUSES, type BatchMessage, type BulkAction, type Outcome } from '../types/entities';
import { retryDelayMs, shouldRetry, type RetryPolicy } from './retryPolicy';

/** Named points where tests inject faults (e.g. "die after the entities were written, before their outcomes"). */
export interface FaultPoints {
  /** After the handler wrote the entities, before their outcomes are recorded (inside the retry loop). */
  afterEntitiesWritten?(batch: BatchMessage): void | Promise<void>;
  /** After the outcomes are recorded, before the batch is acknowledged: a throw here is a worker dying late. */
  afterOutcomesRecorded?(batch: BatchMessage): void | Promise<void>;
}

export interface ProcessingDeps {
  jobStore: JobStore;
  entityStore: EntityStore;
  handlers: HandlerRegistry;
  retry: RetryPolicy;
  logger: Logger;
  now: () => number;
  /** Waits between retries; tests pass a fake. */
  delay?: (ms: number) => Promise<void>;
  faults?: FaultPoints;
  /** Called once when this batch finished its action. */
  onActionFinished?: (action: BulkAction) => void | Promise<void>;
}

/** How long a batch may wait for its action to be stored before it counts as an orphan. */
export const ORPHAN_GRACE_MS = 60_000;
/** How long one delivery waits for a missing action before handing the batch back. */
const WAIT_FOR_ACTION_MS = 2_000;

/** The batch arrived before its action's row: hand it back, it will be delivered again shortly. */
export class ActionNotStoredYet extends Error {
  constructor(actionId: string) {
    super(`action ${actionId} is not stored yet`);
    this.name = 'ActionNotStoredYet';
  }
}

interface Position {
  seq: number;
  entityId: string;
}

/**
 * Processes one delivered batch to the end: every position gets an outcome, exactly once.
 * Delivery is at-least-once, so the batch may have been (partly) done before: positions that
 * already have an outcome are skipped, and entity updates are idempotent (same fields, same values).
 */
export async function processBatch(deps: ProcessingDeps, batch: BatchMessage, delivery: Delivery): Promise<void> {
  const { jobStore, now } = deps;
  const action = (await jobStore.getAction(batch.actionId)) ?? (await waitForStoredAction(deps, batch));
  if (!action) {
    // Batches are queued just before their action is stored: early on, it is on its way.
    if (now() - batch.createdAt < ORPHAN_GRACE_MS) throw new ActionNotStoredYet(batch.actionId);
    deps.logger.warn({ actionId: batch.actionId, batchNo: batch.batchNo }, 'dropping a batch whose action was never stored');
    return;
  }
  if (TERMINAL_STATUSES.includes(action.status)) return; // cancelled or already finished: nothing to do
  if (action.status !== 'RUNNING') await jobStore.markRunning(action.id, now());

  let pending = toPositions(batch);
  if (delivery.deliveryCount > 1) pending = await withoutRecorded(jobStore, batch.actionId, pending);

  if (delivery.deliveryCount > deps.retry.maxDeliveries) {
    const message = `batch ${batch.batchNo} was delivered ${delivery.deliveryCount} times without finishing`;
    await jobStore.recordOutcomes(batch.actionId, failAll(pending, 'RETRIES_EXHAUSTED', message), now());
  } else {
    await processWithRetries(deps, batch, pending);
  }
  await deps.faults?.afterOutcomesRecorded?.(batch);

  const finished = await jobStore.completeIfDone(batch.actionId, now());
  if (finished) await deps.onActionFinished?.(finished);
}

/**
 * Batches are queued just before their action is stored. Waiting here a little (rather than handing
 * the batch back at once) keeps a slow insert, such as one with many repeated IDs, from using up
 * the batch's deliveries.
 */
async function waitForStoredAction(deps: ProcessingDeps, batch: BatchMessage): Promise<BulkAction | null> {
  if (deps.now() - batch.createdAt >= ORPHAN_GRACE_MS) return null;
  for (let waited = 0; waited < WAIT_FOR_ACTION_MS; waited += 50) {
    await (deps.delay ?? sleep)(50);
    const action = await deps.jobStore.getAction(batch.actionId);
    if (action) return action;
  }
  return null;
}

async function processWithRetries(deps: ProcessingDeps, batch: BatchMessage, positions: Position[]): Promise<void> {
  const { jobStore, now, retry } = deps;
  let pending = positions;
  for (let attempt = 1; pending.length > 0; attempt++) {
    try {
      const outcomes = await decideOutcomes(deps, batch, pending);
      await deps.faults?.afterEntitiesWritten?.(batch);
      await jobStore.recordOutcomes(batch.actionId, outcomes, now());
      return;
    } catch (thrown) {
      const error = toError(thrown);
      if (!shouldRetry(error, attempt, retry)) {
        const code = error instanceof PermanentError ? error.code : 'RETRIES_EXHAUSTED';
        deps.logger.error({ err: error, actionId: batch.actionId, batchNo: batch.batchNo, attempt }, 'batch failed for good');
        await jobStore.recordOutcomes(batch.actionId, failAll(pending, code, error.message), now());
        return;
      }
      const wait = retryDelayMs(attempt, retry);
      deps.logger.warn({ err: error, actionId: batch.actionId, batchNo: batch.batchNo, attempt, retryInMs: wait }, 'batch failed; retrying');
      await (deps.delay ?? sleep)(wait);
      pending = await withoutRecorded(jobStore, batch.actionId, pending);
    }
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
