/**
 * Glossary
 * - account:  a tenant of the CRM. Every entity belongs to exactly one; every action runs inside one.
 * - entity:   one CRM record (a contact, a lead, ...) identified by (entityType, id).
 * - handler:  the class that knows how to validate and update one entity type (src/handlers/).
 * - action:   one bulk request: "set these fields on these entities of this account".
 * - batch:    a slice of an action's entities (BATCH_SIZE, default 1000) that travels through the queue.
 * - outcome:  what happened to one submitted entity ID: SUCCESS, FAILED or SKIPPED, with a reason code.
 */

/** Every entity type the platform can update. Add a member here when you add a handler. */
export type EntityType =
  | 'contact'
  | 'lead'
  | 'account'
  | 'product';

export type ActionStatus = 'PENDING' | 'SCHEDULED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export const ACTION_STATUSES: readonly ActionStatus[] = ['PENDING', 'SCHEDULED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
export const TERMINAL_STATUSES: readonly ActionStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export type OutcomeStatus = 'SUCCESS' | 'FAILED' | 'SKIPPED';

/** Field values a bulk update may set. */
export type FieldValue = string | number | boolean | null | string[];
export type FieldUpdates = Record<string, FieldValue>;

/** One stored CRM record. `data` holds the type's own fields. */
export interface EntityRecord {
  id: string;
  accountId: string;
  data: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface Progress {
  processed: number;
  succeeded: number;
  failed: number;
  skipped: number;
}

/** An action as stored by the job store. Times are epoch milliseconds. */
export interface BulkAction {
  id: string;
  accountId: string;
  entityType: string;
  status: ActionStatus;
  fieldsToUpdate: FieldUpdates;
  /** Every submitted ID, repeats included. */
  totalEntities: number;
  createdAt: number;
  scheduledAt: number | null;
  startedAt: number | null;
  completedAt: number | null;
  progress: Progress;
  /**
   * Milliseconds during which some batch of the action was being processed, from the batches
   * finished so far (src/store/busyTime.ts): downtime and backoff waits do not count. 0 before any.
   */
  processingMs: number;
}

/**
 * The unit of work on the queue (the spec's step 3: action ID, entity IDs, fields, account context).
 * `seqs[i]` is the position of `entityIds[i]` in the original request: outcomes are keyed by
 * (actionId, seq), which is what makes recording them idempotent. `batchNo` runs from 0 to the
 * action's `batchCount - 1`; each batch is counted into the action's progress exactly once.
 */
export interface BatchMessage {
  actionId: string;
  accountId: string;
  entityType: string;
  batchNo: number;
  entityIds: string[];
  seqs: number[];
  fieldsToUpdate: FieldUpdates;
  /**
   * Present on a batch of repeated IDs only: `firstSeqs[i]` is where `entityIds[i]` first appears
   * in the request. Such a batch touches no entity; it records each position SKIPPED DUPLICATE_ID.
   */
  firstSeqs?: number[];
}

/**
 * The values an outcome's message needs beyond its action and its row (see src/outcomeMessages.ts),
 * e.g. `{ firstSeq: 4 }` for DUPLICATE_ID; `detail` holds a handler's own words. Kept small: it is
 * stored with every outcome that has one.
 */
export type OutcomeParams = Record<string, string | number>;

/** What happened to one submitted entity ID. */
export interface Outcome {
  seq: number;
  entityId: string;
  status: OutcomeStatus;
  /** Reason code; null only for SUCCESS. */
  code: string | null;
  /** What the code's message needs beyond the action and this row; null when the code says it all. Rendered at read time. */
  params: OutcomeParams | null;
}

/** An outcome as stored, with when it was recorded (epoch ms). */
export interface OutcomeLog extends Outcome {
  processedAt: number;
}
