import { ACTION_STATUSES, type ActionStatus, type BatchMessage, type BulkAction, type Outcome, type OutcomeLog, type OutcomeStatus } from '../types/entities';

/** A new action as the create path hands it to the store. */
export interface NewAction {
  action: BulkAction;
  /** sha256 of (account, type, ids, fields): finds the same payload resubmitted. */
  payloadHash: string;
  idempotencyKey: string | null;
  /** The 202 body, kept so an Idempotency-Key replay returns exactly what the first call did. */
  creationResponse: string;
  /**
   * The batch plan: every batch of the action, numbered 0..n-1, repeated IDs included. Stored with
   * the action (the transactional outbox) and published to the queue after; see `markPublished`.
   */
  batches: BatchMessage[];
}

/** An earlier action that a new request repeats. */
export type ExistingAction =
  | { created: false; reason: 'IDEMPOTENCY_KEY'; existing: BulkAction; payloadHash: string; creationResponse: string }
  | { created: false; reason: 'DUPLICATE_PAYLOAD'; existing: BulkAction };

export type InsertActionResult = { created: true } | ExistingAction;

/**
 * Thrown by `insertAction` when an identical request (same Idempotency-Key, or same payload within
 * the duplicate window) is being created right now by another call whose action is not stored
 * yet: there is no earlier action to answer with, and creating a second one would break the
 * one-create guarantee. The client should retry shortly; by then the replay or the 409 is known.
 * (Adapters with transactions, such as SQLite, never throw it.)
 */
export class CreateInProgressError extends Error {
  override readonly name = 'CreateInProgressError';

  constructor(
    readonly reason: ExistingAction['reason'],
    /** The action id the other request claimed. */
    readonly actionId: string,
  ) {
    super(`an identical request is still being created (action ${actionId}); retry shortly`);
  }
}

export interface ActionFilter {
  accountId?: string;
  status?: ActionStatus;
  entityType?: string;
}

export interface Page<T> {
  items: T[];
  total: number;
}

/** A key claimed for one action's de-duplication, and the position (seq) that owns it. */
export interface KeyClaim {
  key: string;
  seq: number;
  entityId: string;
}

/** The positions of one batch, as `finishBatch` needs them, and when its delivery began processing. */
export interface BatchRef {
  batchNo: number;
  seqs: number[];
  /**
   * Epoch ms at which the delivery that finishes the batch started processing it: with
   * finishBatch's `at`, the interval added to the action's processing time (src/store/busyTime.ts).
   * Absent (tools, tests): the batch adds no processing time.
   */
  startedAt?: number;
}

/** What one `purgeExpired` call did. */
export interface PurgeSlice {
  /** Actions whose removal this slice began (gone for readers from now on). */
  actionsRemoved: number;
  /** Rows or documents deleted: outcomes, the actions and their leftovers, dead letters. */
  rowsDeleted: number;
  /** Bytes the database file gave back to the file system; 0 where the server manages its own space. */
  bytesReclaimed: number;
  /** Nothing is left to do for this cutoff: call again at the next pass, not now. */
  done: boolean;
}

/**
 * The job store (the spec's step 2 and 5): actions, their per-entity outcomes, counters, the
 * batch outbox and temporary de-dup state. Adapters: SQLite (embedded) and MongoDB (distributed).
 *
 * Exactly-once counting, which every adapter keeps without multi-document transactions:
 * an outcome row is inserted at most once per (action, seq), and a batch's outcomes are folded
 * into the action's counters at most once per (action, batchNo). Counters never exceed the rows,
 * and equal them once every batch that has rows is finished.
 */
export interface JobStore {
  /**
   * Stores the action with its batch plan, unless an action with the same Idempotency-Key exists
   * in the account, or (when `duplicateSince` is set, epoch ms) one with the same payload hash was
   * created at or after `duplicateSince`. Atomic as seen by readers: the action is either absent
   * or present with its whole plan. Of two concurrent identical requests (in any processes) only
   * one creates. Throws CreateInProgressError while an identical create is half-way.
   */
  insertAction(input: NewAction, duplicateSince: number | null): Promise<InsertActionResult>;
  /** The check insertAction makes, without inserting: lets a replay answer before any rate limit. */
  findExisting(accountId: string, idempotencyKey: string | null, payloadHash: string, duplicateSince: number | null): Promise<ExistingAction | null>;
  /** Every batch of the plan has been durably accepted by the queue: the sweeper can forget the action. */
  markPublished(actionId: string): Promise<void>;
  /**
   * Ids of actions created before `createdBefore` (epoch ms) whose plan was never marked published,
   * oldest first, at most `limit`: what a crash between store and publish left behind.
   */
  listUnpublished(createdBefore: number, limit: number): Promise<string[]>;
  /** The stored batch plan of an action, in batchNo order; empty once the action is finished. */
  batchPlan(actionId: string): Promise<BatchMessage[]>;
  /**
   * One batch of the stored plan, exactly as planned; null when the action has no such batch (it
   * never planned it, or it is finished and its plan is gone). A worker checks every delivered
   * message against it: the message is only a copy.
   */
  plannedBatch(actionId: string, batchNo: number): Promise<BatchMessage | null>;
  getAction(id: string): Promise<BulkAction | null>;
  /** Newest first. */
  listActions(filter: ActionFilter, offset: number, limit: number): Promise<Page<BulkAction>>;
  /** PENDING/SCHEDULED -> RUNNING with startedAt = at, once; later calls change nothing. */
  markRunning(id: string, at: number): Promise<void>;
  /** Which of these seqs already have an outcome (a redelivered batch skips them). */
  recordedSeqs(actionId: string, seqs: number[]): Promise<Set<number>>;
  /** Inserts the outcomes whose seq has none yet; an outcome already recorded is left as it was. */
  recordOutcomes(actionId: string, outcomes: Outcome[], at: number): Promise<void>;
  /**
   * Called once every seq of the batch has an outcome. Folds the batch's outcomes into the action's
   * counters and per-code counts if they are not counted yet (exactly once, however often this is
   * called), then, when every entity of the action is counted, sets the final status (COMPLETED, or
   * FAILED when nothing succeeded and something failed), stamps completedAt and drops the action's
   * temporary data (key claims, batch plan). Returns the action if this call finished it.
   * Also adds the interval [batch.startedAt, at] to the processing time of an action that is not
   * over (`BulkAction.processingMs`); an interval already covered adds nothing.
   */
  finishBatch(actionId: string, batch: BatchRef, at: number): Promise<BulkAction | null>;
  /**
   * Claims de-dup keys for an action: the first claim of a key wins and keeps it across retries.
   * Returns the owning claim of every key asked about.
   */
  claimKeys(actionId: string, claims: KeyClaim[]): Promise<Map<string, KeyClaim>>;
  /** The action and its per-code counts read together, so they agree even while batches land. */
  getActionWithErrors(actionId: string): Promise<{ action: BulkAction; errorsByCode: Record<string, number> } | null>;
  /**
   * Outcome rows in request order (by seq). `total` is the number of rows matching `status`; an
   * adapter may take it from the counters, which equal the rows except for a batch in flight.
   */
  listOutcomes(actionId: string, status: OutcomeStatus | null, offset: number, limit: number): Promise<Page<OutcomeLog>>;
  /**
   * One slice of the retention purge (src/actions/retention.ts), short enough to run beside live
   * traffic: removes actions that ended (COMPLETED, FAILED, CANCELLED) before `completedBefore`
   * (epoch ms) with their outcomes and leftovers (plan, key claims, duplicate claims), and dead
   * letters recorded before it where the store keeps them, deleting about `maxRows` rows at most;
   * once nothing is left to delete, it gives freed space back where the backend can, a little per call.
   * An action disappears as a whole when its removal begins (getAction null, not listed, its
   * Idempotency-Key free again); its outcome rows follow over later slices. Actions that have not
   * ended, or ended at or after `completedBefore`, are never touched. Safe to run in several
   * processes at once and to resume after a crash (what was begun is finished by a later slice).
   */
  purgeExpired(completedBefore: number, maxRows: number): Promise<PurgeSlice>;
  /**
   * How many actions the store holds in each status, every status present (0 when none): the
   * `bulk_actions` gauge, read at scrape time. One grouped read over the actions, not their outcomes.
   */
  countActionsByStatus(): Promise<Record<ActionStatus, number>>;
  /** Resolves when the store answers a trivial read; rejects with the driver's error otherwise (`/ready`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Per-status counts from grouped rows, with every status present (0 when absent): for `countActionsByStatus`. */
export function countsByStatus(rows: Iterable<{ status: string; count: number }>): Record<ActionStatus, number> {
  const counts = Object.fromEntries(ACTION_STATUSES.map((status) => [status, 0])) as Record<ActionStatus, number>;
  for (const { status, count } of rows) if (status in counts) counts[status as ActionStatus] += count;
  return counts;
}
