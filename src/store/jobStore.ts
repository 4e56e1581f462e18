import type { ActionStatus, BulkAction, Outcome, OutcomeLog, OutcomeStatus } from '../types/entities';

/** A new action as the create path hands it to the store. */
export interface NewAction {
  action: BulkAction;
  /** sha256 of (account, type, ids, fields): finds the same payload resubmitted. */
  payloadHash: string;
  idempotencyKey: string | null;
  /** The 202 body, kept so an Idempotency-Key replay returns exactly what the first call did. */
  creationResponse: string;
  /** Outcomes known at creation (repeated IDs, SKIPPED with DUPLICATE_ID). Counted like any other. */
  initialOutcomes: Outcome[];
}

/** An earlier action that a new request repeats. */
export type ExistingAction =
  | { created: false; reason: 'IDEMPOTENCY_KEY'; existing: BulkAction; payloadHash: string; creationResponse: string }
  | { created: false; reason: 'DUPLICATE_PAYLOAD'; existing: BulkAction };

export type InsertActionResult = { created: true } | ExistingAction;

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

/**
 * The job store: actions, their per-entity outcomes, counters and temporary de-dup state.
 * Invariant every adapter keeps: counters move only when an outcome row is first inserted,
 * so a redelivered batch cannot count an entity twice, and the counters always equal the logs.
 */
export interface JobStore {
  /**
   * Stores the action (and its initial outcomes) atomically, unless an action with the same
   * Idempotency-Key exists in the account, or (when `duplicateSince` is set) one with the same
   * payload hash was created at or after `duplicateSince`.
   */
  insertAction(input: NewAction, duplicateSince: number | null): Promise<InsertActionResult>;
  /** The check insertAction makes, without inserting: lets a replay answer before any rate limit. */
  findExisting(accountId: string, idempotencyKey: string | null, payloadHash: string, duplicateSince: number | null): Promise<ExistingAction | null>;
  getAction(id: string): Promise<BulkAction | null>;
  /** Newest first. */
  listActions(filter: ActionFilter, offset: number, limit: number): Promise<Page<BulkAction>>;
  /** PENDING/SCHEDULED -> RUNNING, once; returns whether this call made the change. */
  markRunning(id: string, at: number): Promise<boolean>;
  /** Which of these seqs already have an outcome (a redelivered batch skips them). */
  recordedSeqs(actionId: string, seqs: number[]): Promise<Set<number>>;
  /** Inserts outcomes not yet recorded and moves the counters by exactly those. Returns how many were new. */
  recordOutcomes(actionId: string, outcomes: Outcome[], at: number): Promise<number>;
  /**
   * Claims de-dup keys for an action: the first claim of a key wins and keeps it across retries.
   * Returns the owning seq of every key asked about.
   */
  claimKeys(actionId: string, claims: KeyClaim[]): Promise<Map<string, KeyClaim>>;
  /**
   * When every entity has an outcome, sets the final status (COMPLETED, or FAILED when nothing
   * succeeded and something failed), stamps completedAt and drops temporary data (key claims).
   * Returns the action if this call finished it.
   */
  completeIfDone(actionId: string, at: number): Promise<BulkAction | null>;
  /** Marks an action FAILED as a whole (it could not be carried out). */
  failAction(actionId: string, reason: string, at: number): Promise<void>;
  /** The action and its per-code counts read together, so they agree even while batches land. */
  getActionWithErrors(actionId: string): Promise<{ action: BulkAction; errorsByCode: Record<string, number> } | null>;
  /** Outcome rows in request order. */
  listOutcomes(actionId: string, status: OutcomeStatus | null, offset: number, limit: number): Promise<Page<OutcomeLog>>;
  close(): Promise<void>;
}
