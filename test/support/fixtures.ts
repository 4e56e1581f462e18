import { randomUUID } from 'node:crypto';
import type { NewAction } from '../../src/store/jobStore';
import type { BatchMessage, BulkAction, Outcome, OutcomeStatus } from '../../src/types/entities';

export const T0 = 1_700_000_000_000;

/** A fresh PENDING action with a random id; override whatever the test is about. */
export function makeAction(overrides: Partial<BulkAction> = {}): BulkAction {
  return {
    id: randomUUID(),
    accountId: 'acct-a',
    entityType: 'contact',
    status: 'PENDING',
    fieldsToUpdate: { status: 'customer' },
    totalEntities: 10,
    createdAt: T0,
    scheduledAt: null,
    startedAt: null,
    completedAt: null,
    progress: { processed: 0, succeeded: 0, failed: 0, skipped: 0 },
    processingMs: 0,
    ...overrides,
  };
}

/** What the create path hands the job store. The payload hash is unique per action unless overridden. */
export function makeNewAction(action: BulkAction, overrides: Partial<Omit<NewAction, 'action'>> = {}): NewAction {
  return {
    action,
    payloadHash: `hash-${action.id}`,
    idempotencyKey: null,
    creationResponse: JSON.stringify({ id: action.id, status: action.status }),
    batches: [],
    ...overrides,
  };
}

/** One outcome for position `seq` (entity `e-<seq>`); non-success outcomes get a code. */
export function makeOutcome(seq: number, status: OutcomeStatus = 'SUCCESS', code: string | null = null): Outcome {
  const reason = status === 'SUCCESS' ? null : (code ?? (status === 'FAILED' ? 'NOT_FOUND' : 'DUPLICATE_ID'));
  return { seq, entityId: `e-${seq}`, status, code: reason, params: reason === null ? null : { detail: `${reason} at ${seq}` } };
}

export function makeOutcomes(seqs: number[], status: OutcomeStatus = 'SUCCESS', code: string | null = null): Outcome[] {
  return seqs.map((seq) => makeOutcome(seq, status, code));
}

/** A batch of three entities of `actionId`, numbered `batchNo`. */
export function makeBatch(actionId: string, batchNo: number, overrides: Partial<BatchMessage> = {}): BatchMessage {
  const first = batchNo * 3;
  const seqs = [first, first + 1, first + 2];
  return {
    actionId,
    accountId: 'acct-a',
    entityType: 'contact',
    batchNo,
    entityIds: seqs.map((seq) => `e-${seq}`),
    seqs,
    fieldsToUpdate: { status: 'customer', tags: ['vip', 'emea'], score: 3, optedIn: true, note: null },
    ...overrides,
  };
}
