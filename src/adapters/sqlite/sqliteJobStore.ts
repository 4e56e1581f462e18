import type { Statement } from 'better-sqlite3';
import { countsByStatus, type ActionFilter, type BatchRef, type ExistingAction, type InsertActionResult, type JobStore, type KeyClaim, type NewAction, type Page, type PurgeSlice } from '../../store/jobStore';
import type { ActionStatus, BatchMessage, BulkAction, Outcome, OutcomeLog, OutcomeParams, OutcomeStatus } from '../../types/entities';
import type { SqliteDatabase } from './database';
import { addBusyInterval, type BusyTime } from '../../store/busyTime';
import { actionParams, ACTION_COLUMNS, toAction, type ActionRow } from './actionRows';
import { SqlitePurge } from './purge';

/** An action_outcomes row as the logs read it. `message` is only set on rows recorded before `params` (migration 006). */
interface OutcomeRow {
  seq: number;
  entity_id: string;
  status: OutcomeStatus;
  code: string | null;
  params: string | null;
  message: string | null;
  processed_at: number;
}

/** A row as the port's OutcomeLog; an old row's sentence comes back as its `detail`. */
function toOutcomeLog(r: OutcomeRow): OutcomeLog {
  const params = r.params !== null ? (JSON.parse(r.params) as OutcomeParams) : r.message !== null ? { detail: r.message } : null;
  return { seq: r.seq, entityId: r.entity_id, status: r.status, code: r.code, params, processedAt: r.processed_at };
}

const COUNTER_OF: Record<OutcomeStatus, 'succeeded' | 'failed' | 'skipped'> = { SUCCESS: 'succeeded', FAILED: 'failed', SKIPPED: 'skipped' };

/**
 * Job store on SQLite. Every method is one transaction; the invariant of the port holds because
 * counters are bumped in the same transaction as the outcome rows whose insert actually happened
 * (so `finishBatch` has nothing left to count: it only completes the action when it is done).
 */
export class SqliteJobStore implements JobStore {
  private readonly actionNos = new Map<string, number>();
  private readonly purge: SqlitePurge;
  private readonly s: Record<
    'insertAction' | 'byId' | 'byKey' | 'byPayload' | 'insertOutcome' | 'bumpCounters' | 'bumpErrors' | 'outcomeExists' |
    'claimKey' | 'keyOwner' | 'counters' | 'busyOf' | 'setBusy' | 'complete' | 'dropClaims' | 'markRunning' | 'errors' | 'noOf' |
    'insertBatch' | 'dropBatches' | 'batchPlan' | 'plannedBatch' | 'markPublished' | 'unpublished',
    Statement
  >;

  constructor(private readonly db: SqliteDatabase) {
    this.purge = new SqlitePurge(db);
    this.s = {
      // `no` above every action's and every action being purged (see purge.ts): outcome rows a
      // purge has not reached yet never belong to a new action.
      insertAction: db.prepare(`INSERT INTO actions (no, ${ACTION_COLUMNS.join(', ')}, payload_hash, idempotency_key, creation_response,
        batch_count, published) VALUES (
          (SELECT coalesce(max(n), 0) + 1 FROM (SELECT max(no) AS n FROM actions UNION ALL SELECT max(action_no) FROM action_purges)),
          ${ACTION_COLUMNS.map(() => '?').join(', ')}, ?, ?, ?, ?, 0)`),
      insertBatch: db.prepare('INSERT INTO action_batches (action_no, batch_no, payload) VALUES (?, ?, ?)'),
      dropBatches: db.prepare('DELETE FROM action_batches WHERE action_no = ?'),
      batchPlan: db.prepare('SELECT payload FROM action_batches WHERE action_no = ? ORDER BY batch_no').pluck(),
      plannedBatch: db.prepare('SELECT b.payload FROM actions a JOIN action_batches b ON b.action_no = a.no WHERE a.id = ? AND b.batch_no = ?').pluck(),
      markPublished: db.prepare('UPDATE actions SET published = 1 WHERE id = ? AND published = 0'),
      unpublished: db.prepare(`SELECT id FROM actions WHERE published = 0 AND created_at < ?
        AND status IN ('PENDING', 'SCHEDULED', 'RUNNING') ORDER BY created_at LIMIT ?`).pluck(),
      byId: db.prepare('SELECT * FROM actions WHERE id = ?'),
      byKey: db.prepare('SELECT * FROM actions WHERE account_id = ? AND idempotency_key = ?'),
      byPayload: db.prepare(
        'SELECT * FROM actions WHERE account_id = ? AND payload_hash = ? AND created_at >= ? ORDER BY created_at DESC LIMIT 1',
      ),
      // No sentence per row: a code and, when its message needs them, a few params (migration 006).
      insertOutcome: db.prepare(`INSERT INTO action_outcomes (action_no, seq, entity_id, status, code, params, processed_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      bumpCounters: db.prepare(`UPDATE actions SET processed = processed + ?, succeeded = succeeded + ?,
        failed = failed + ?, skipped = skipped + ? WHERE no = ?`),
      bumpErrors: db.prepare(`INSERT INTO action_error_counts (action_no, code, count) VALUES (?, ?, ?)
        ON CONFLICT (action_no, code) DO UPDATE SET count = count + excluded.count`),
      outcomeExists: db.prepare(
        'SELECT j.value AS seq FROM json_each(?) j CROSS JOIN action_outcomes o WHERE o.action_no = ? AND o.seq = j.value',
      ),
      claimKey: db.prepare('INSERT INTO action_key_claims (action_no, key, seq, entity_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      keyOwner: db.prepare('SELECT key, seq, entity_id AS entityId FROM action_key_claims WHERE action_no = ? AND key = ?'),
      counters: db.prepare('SELECT processed, succeeded, failed, skipped FROM actions WHERE no = ?'),
      busyOf: db.prepare(`SELECT busy_ms AS closedMs, busy_since AS since, busy_until AS until FROM actions
        WHERE no = ? AND status IN ('PENDING', 'SCHEDULED', 'RUNNING')`),
      setBusy: db.prepare('UPDATE actions SET busy_ms = ?, busy_since = ?, busy_until = ? WHERE no = ?'),
      complete: db.prepare(`UPDATE actions SET completed_at = ?,
          status = CASE WHEN succeeded = 0 AND failed > 0 THEN 'FAILED' ELSE 'COMPLETED' END
        WHERE no = ? AND processed >= total_entities AND status IN ('PENDING', 'SCHEDULED', 'RUNNING') RETURNING *`),
      dropClaims: db.prepare('DELETE FROM action_key_claims WHERE action_no = ?'),
      markRunning: db.prepare(
        `UPDATE actions SET status = 'RUNNING', started_at = coalesce(started_at, ?) WHERE id = ? AND status IN ('PENDING', 'SCHEDULED')`,
      ),
      errors: db.prepare('SELECT code, count FROM action_error_counts WHERE action_no = ? ORDER BY count DESC, code'),
      noOf: db.prepare('SELECT no FROM actions WHERE id = ?'),
    };
  }

  async insertAction(input: NewAction, duplicateSince: number | null): Promise<InsertActionResult> {
    const { action } = input;
    let no: number | undefined;
    const result = this.db.writeTransaction((): InsertActionResult => {
      const existing = this.existing(action.accountId, input.idempotencyKey, input.payloadHash, duplicateSince);
      if (existing) return existing;
      no = Number(
        this.s.insertAction.run(...actionParams(action), input.payloadHash, input.idempotencyKey, input.creationResponse, input.batches.length)
          .lastInsertRowid,
      );
      for (const batch of input.batches) this.s.insertBatch.run(no, batch.batchNo, JSON.stringify(batch));
      return { created: true };
    });
    // Cached only once committed: a rolled-back insert must not leave a row number behind.
    if (result.created && no !== undefined) this.actionNos.set(action.id, no);
    return result;
  }

  async findExisting(accountId: string, idempotencyKey: string | null, payloadHash: string, duplicateSince: number | null): Promise<ExistingAction | null> {
    return this.existing(accountId, idempotencyKey, payloadHash, duplicateSince);
  }

  private existing(accountId: string, idempotencyKey: string | null, payloadHash: string, duplicateSince: number | null): ExistingAction | null {
    if (idempotencyKey !== null) {
      const row = this.s.byKey.get(accountId, idempotencyKey) as ActionRow | undefined;
      if (row) {
        return { created: false, reason: 'IDEMPOTENCY_KEY', existing: toAction(row), payloadHash: row.payload_hash, creationResponse: row.creation_response };
      }
    }
    if (duplicateSince !== null) {
      const row = this.s.byPayload.get(accountId, payloadHash, duplicateSince) as ActionRow | undefined;
      if (row) return { created: false, reason: 'DUPLICATE_PAYLOAD', existing: toAction(row) };
    }
    return null;
  }

  async markPublished(actionId: string): Promise<void> {
    this.db.writeLocked(() => this.s.markPublished.run(actionId));
  }

  async listUnpublished(createdBefore: number, limit: number): Promise<string[]> {
    return this.s.unpublished.all(createdBefore, limit) as string[];
  }

  async batchPlan(actionId: string): Promise<BatchMessage[]> {
    return (this.s.batchPlan.all(this.noOf(actionId)) as string[]).map((payload) => JSON.parse(payload) as BatchMessage);
  }

  async plannedBatch(actionId: string, batchNo: number): Promise<BatchMessage | null> {
    const payload = this.s.plannedBatch.get(actionId, batchNo) as string | undefined;
    return payload === undefined ? null : (JSON.parse(payload) as BatchMessage);
  }

  async getAction(id: string): Promise<BulkAction | null> {
    const row = this.s.byId.get(id) as ActionRow | undefined;
    return row ? toAction(row) : null;
  }

  async listActions(filter: ActionFilter, offset: number, limit: number): Promise<Page<BulkAction>> {
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [column, value] of [['account_id', filter.accountId], ['status', filter.status], ['entity_type', filter.entityType]] as const) {
      if (value !== undefined) {
        where.push(`${column} = ?`);
        params.push(value);
      }
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const rows = this.db
      .prepare(`SELECT * FROM actions ${clause} ORDER BY created_at DESC, no DESC LIMIT ? OFFSET ?`)
      .all(...params, limit, offset) as ActionRow[];
    const { n } = this.db.prepare(`SELECT count(*) AS n FROM actions ${clause}`).get(...params) as { n: number };
    return { items: rows.map(toAction), total: n };
  }

  async markRunning(id: string, at: number): Promise<void> {
    this.db.writeLocked(() => this.s.markRunning.run(at, id));
  }

  async recordedSeqs(actionId: string, seqs: number[]): Promise<Set<number>> {
    const rows = this.s.outcomeExists.all(JSON.stringify(seqs), this.noOf(actionId)) as { seq: number }[];
    return new Set(rows.map((r) => r.seq));
  }

  async recordOutcomes(actionId: string, outcomes: Outcome[], at: number): Promise<void> {
    if (outcomes.length === 0) return;
    const no = this.noOf(actionId);
    this.db.writeTransaction(() => this.insertOutcomes(no, outcomes, at));
  }

  async claimKeys(actionId: string, claims: KeyClaim[]): Promise<Map<string, KeyClaim>> {
    const no = this.noOf(actionId);
    return this.db.writeTransaction(() => {
      const owners = new Map<string, KeyClaim>();
      for (const claim of claims) {
        if (owners.has(claim.key)) continue;
        if (this.s.claimKey.run(no, claim.key, claim.seq, claim.entityId).changes === 1) owners.set(claim.key, claim);
        else owners.set(claim.key, this.s.keyOwner.get(no, claim.key) as KeyClaim);
      }
      return owners;
    });
  }

  /**
   * Counters already moved with the rows: this adds the batch's processing interval to an action
   * that is not over, and completes the action once everything is counted. One write transaction.
   */
  async finishBatch(actionId: string, batch: BatchRef, at: number): Promise<BulkAction | null> {
    const no = this.noOf(actionId);
    const { startedAt } = batch;
    return this.db.writeTransaction(() => {
      const busy = startedAt === undefined ? undefined : (this.s.busyOf.get(no) as BusyTime | undefined);
      if (busy && startedAt !== undefined) {
        const next = addBusyInterval(busy, startedAt, at);
        this.s.setBusy.run(next.closedMs, next.since, next.until, no);
      }
      const row = this.s.complete.get(at, no) as ActionRow | undefined;
      if (!row) return null;
      this.s.dropClaims.run(no);
      this.s.dropBatches.run(no);
      return toAction(row);
    });
  }

  async getActionWithErrors(actionId: string): Promise<{ action: BulkAction; errorsByCode: Record<string, number> } | null> {
    // One read transaction: one snapshot for both reads.
    return this.db.transaction(() => {
      const row = this.s.byId.get(actionId) as ActionRow | undefined;
      if (!row) return null;
      const rows = this.s.errors.all(row.no) as { code: string; count: number }[];
      return { action: toAction(row), errorsByCode: Object.fromEntries(rows.map((r) => [r.code, r.count])) };
    })();
  }

  async listOutcomes(actionId: string, status: OutcomeStatus | null, offset: number, limit: number): Promise<Page<OutcomeLog>> {
    const filter = status === null ? '' : 'AND status = ?';
    // One read transaction: the page and the total come from the same snapshot. The counters equal
    // the rows (they move in the same write transactions), so the total needs no count(*) over a
    // million outcome rows. The action's number is read in it too, not from this connection's
    // cache: the purge runs in another thread, and a purged action's number can be reused.
    return this.db.transaction(() => {
      const found = this.s.noOf.get(actionId) as { no: number } | undefined;
      if (!found) return { items: [], total: 0 }; // purged since the caller found it
      const no = found.no;
      const params: unknown[] = status === null ? [no] : [no, status];
      const rows = this.db
        .prepare(`SELECT seq, entity_id, status, code, params, message, processed_at FROM action_outcomes
          WHERE action_no = ? ${filter} ORDER BY seq LIMIT ? OFFSET ?`)
        .all(...params, limit, offset) as OutcomeRow[];
      const counters = this.s.counters.get(no) as Record<'processed' | 'succeeded' | 'failed' | 'skipped', number>;
      return {
        items: rows.map(toOutcomeLog),
        total: status === null ? counters.processed : counters[COUNTER_OF[status]],
      };
    })();
  }

  async countActionsByStatus(): Promise<Record<ActionStatus, number>> {
    // A scan of the actions table (one row per action, never its outcomes): scrape-time cost.
    return countsByStatus(this.db.prepare('SELECT status, count(*) AS count FROM actions GROUP BY status').all() as { status: string; count: number }[]);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get(); // throws once the connection is closed
  }

  async purgeExpired(completedBefore: number, maxRows: number): Promise<PurgeSlice> {
    const { removed, ...slice } = this.purge.slice(completedBefore, maxRows);
    for (const id of removed) this.actionNos.delete(id);
    return slice;
  }

  async close(): Promise<void> {
    // The database handle is owned and closed by the composition root.
  }

  /** Inserts outcomes not yet recorded; counters and error counts move by exactly the inserted rows. */
  private insertOutcomes(no: number, outcomes: Outcome[], at: number): void {
    let succeeded = 0;
    let failed = 0;
    let skipped = 0;
    const errors = new Map<string, number>();
    for (const o of outcomes) {
      if (this.s.insertOutcome.run(no, o.seq, o.entityId, o.status, o.code, o.params === null ? null : JSON.stringify(o.params), at).changes === 0) continue;
      if (o.status === 'SUCCESS') succeeded++;
      else {
        if (o.status === 'FAILED') failed++;
        else skipped++;
        const code = o.code ?? 'UNKNOWN';
        errors.set(code, (errors.get(code) ?? 0) + 1);
      }
    }
    const inserted = succeeded + failed + skipped;
    if (inserted > 0) this.s.bumpCounters.run(inserted, succeeded, failed, skipped, no);
    for (const [code, count] of errors) this.s.bumpErrors.run(no, code, count);
  }

  private noOf(actionId: string): number {
    let no = this.actionNos.get(actionId);
    if (no === undefined) {
      const row = this.s.noOf.get(actionId) as { no: number } | undefined;
      if (!row) throw new Error(`unknown action ${actionId}`);
      no = row.no;
      this.actionNos.set(actionId, no);
    }
    return no;
  }
}

