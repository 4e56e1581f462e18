import { busyMs, NO_BUSY_TIME, type BusyTime } from '../../store/busyTime';
import type { NewAction } from '../../store/jobStore';
import type { ActionStatus, BatchMessage, BulkAction, FieldUpdates, Outcome, OutcomeLog, OutcomeParams, OutcomeStatus, Progress } from '../../types/entities';

/**
 * One action in `actions`, `_id` = action id. Times are epoch ms (numbers, not BSON dates, so they
 * round-trip exactly). `scheduledAt`, `startedAt` and `completedAt` are absent while null: `$min`
 * sets a missing field and keeps an earlier one, which is how markRunning stamps startedAt once in
 * a single update (FerretDB 1.x has no pipeline updates for `$ifNull`).
 */
export interface ActionDocument {
  _id: string;
  accountId: string;
  entityType: string;
  status: ActionStatus;
  fieldsToUpdate: FieldUpdates;
  totalEntities: number;
  createdAt: number;
  scheduledAt?: number;
  startedAt?: number;
  completedAt?: number;
  progress: Progress;
  /** Per-code counts of FAILED and SKIPPED outcomes; keys are `codeKey(code)`. */
  errors: Record<string, number>;
  payloadHash: string;
  idempotencyKey: string | null;
  creationResponse: string;
  batchCount: number;
  /** Every batch of the plan was accepted by the queue (the outbox). */
  published: boolean;
  /**
   * batchNos already folded into `progress` and `errors`: the update that folds a batch in also
   * adds its number here, conditionally on its absence, so a batch counts once. Removed at
   * completion, after which nothing counts any more.
   */
  countedBatches?: number[];
  /** Processing time (src/store/busyTime.ts); absent until a batch is finished. */
  busy?: BusyTime;
}

/** One batch of the plan in `action_batches`: the message as the queue will carry it. */
export interface BatchDocument {
  _id: string;
  actionId: string;
  batchNo: number;
  message: BatchMessage;
}

/** One position's outcome in `action_outcomes`, unique on (actionId, seq). */
export interface OutcomeDocument {
  actionId: string;
  seq: number;
  entityId: string;
  status: OutcomeStatus;
  /** Absent for a SUCCESS (null on documents from before). */
  code?: string | null;
  /** Absent when the code's message needs nothing more (src/outcomeMessages.ts): no sentence per document. */
  params?: OutcomeParams;
  /** Only on documents recorded before `params`: the sentence as it was rendered then. */
  message?: string | null;
  processedAt: number;
}

/** Statuses after which nothing changes an action: no counting, no completion, not swept. */
export const TERMINAL: ActionStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** The progress counter each outcome status moves (besides `processed`). */
export const COUNTER_OF: Record<OutcomeStatus, 'succeeded' | 'failed' | 'skipped'> = { SUCCESS: 'succeeded', FAILED: 'failed', SKIPPED: 'skipped' };

/** A new action as stored: counters as given (zero), no per-code counts, not yet published, no batch counted. */
export function toActionDocument(input: NewAction): ActionDocument {
  const { action } = input;
  return {
    _id: action.id,
    accountId: action.accountId,
    entityType: action.entityType,
    status: action.status,
    fieldsToUpdate: action.fieldsToUpdate,
    totalEntities: action.totalEntities,
    createdAt: action.createdAt,
    ...(action.scheduledAt === null ? {} : { scheduledAt: action.scheduledAt }),
    ...(action.startedAt === null ? {} : { startedAt: action.startedAt }),
    ...(action.completedAt === null ? {} : { completedAt: action.completedAt }),
    progress: { ...action.progress },
    errors: {},
    payloadHash: input.payloadHash,
    idempotencyKey: input.idempotencyKey,
    creationResponse: input.creationResponse,
    batchCount: input.batches.length,
    published: false,
    countedBatches: [],
  };
}

/** The port's BulkAction: exactly its fields, absent times as null (round-trips `toActionDocument`). */
export function toAction(doc: ActionDocument): BulkAction {
  const p = doc.progress;
  return {
    id: doc._id,
    accountId: doc.accountId,
    entityType: doc.entityType,
    status: doc.status,
    fieldsToUpdate: doc.fieldsToUpdate,
    totalEntities: doc.totalEntities,
    createdAt: doc.createdAt,
    scheduledAt: doc.scheduledAt ?? null,
    startedAt: doc.startedAt ?? null,
    completedAt: doc.completedAt ?? null,
    progress: { processed: p.processed, succeeded: p.succeeded, failed: p.failed, skipped: p.skipped },
    processingMs: busyMs(doc.busy ?? NO_BUSY_TIME),
  };
}

/** `actionId:batchNo`: a retried insertAction cannot store a batch twice. */
export function batchDocumentId(actionId: string, batchNo: number): string {
  return `${actionId}:${batchNo}`;
}

/** The message is stored whole and given back as it was (batchPlan, plannedBatch). */
export function toBatchDocument(batch: BatchMessage): BatchDocument {
  return { _id: batchDocumentId(batch.actionId, batch.batchNo), actionId: batch.actionId, batchNo: batch.batchNo, message: batch };
}

/** An outcome as stored, stamped with the time it was recorded (epoch ms); null fields are left out. */
export function toOutcomeDocument(actionId: string, outcome: Outcome, processedAt: number): OutcomeDocument {
  const { seq, entityId, status, code, params } = outcome;
  return { actionId, seq, entityId, status, ...(code === null ? {} : { code }), ...(params === null ? {} : { params }), processedAt };
}

/** An outcome document as the logs endpoint reads it; an old document's sentence comes back as its `detail`. */
export function toOutcomeLog(doc: OutcomeDocument): OutcomeLog {
  const { seq, entityId, status, processedAt } = doc;
  const params = doc.params ?? (typeof doc.message === 'string' ? { detail: doc.message } : null);
  return { seq, entityId, status, code: doc.code ?? null, params, processedAt };
}

/**
 * The field name of a reason code in `errors`. Codes are chosen by handlers, and a field name
 * must not contain `.` (a path separator) or NUL (BSON ends names with it) or start with `$` (an
 * operator), so `%`, `.`, `$` and NUL are percent-encoded; the empty code becomes a lone `%`,
 * which no encoded code can be.
 */
export function codeKey(code: string): string {
  if (code === '') return '%';
  return code.replace(/[%.$\0]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The reason code a `codeKey` stands for. */
export function codeOfKey(key: string): string {
  if (key === '%') return '';
  return key.replace(/%(25|2E|24|00)/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The per-code counts of an action document, with the codes decoded. */
export function errorsByCode(doc: ActionDocument): Record<string, number> {
  return Object.fromEntries(Object.entries(doc.errors).map(([key, count]) => [codeOfKey(key), count]));
}
