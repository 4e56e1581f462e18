import type { Collection, Db, Filter } from 'mongodb';
import { countsByStatus, type ActionFilter, type BatchRef, type ExistingAction, type InsertActionResult, type JobStore, type KeyClaim, type NewAction, type Page, type PurgeSlice } from '../../store/jobStore';
import type { ActionStatus, BatchMessage, BulkAction, Outcome, OutcomeLog, OutcomeStatus } from '../../types/entities';
import { ActionClaims, type ClaimDocument } from './actionClaims';
import {
  batchDocumentId, codeKey, COUNTER_OF, errorsByCode, TERMINAL, toAction, toActionDocument, toBatchDocument, toOutcomeDocument, toOutcomeLog,
  type ActionDocument, type BatchDocument, type OutcomeDocument,
} from './actionDocuments';
import { insertIgnoringDuplicates, isDuplicateKeyError } from './bulkInsert';
import { ATOMIC_UPDATES, type UpdateSerializer } from './documentLocks';
import { addBusyInterval, NO_BUSY_TIME } from '../../store/busyTime';
import { MongoPurge, type PurgeDocument } from './purge';
import { COLLECTIONS } from './schema';

/** `action_key_claims`: the position that owns a shared de-dup key within one running action. */
interface KeyClaimDocument {
  _id: string;
  actionId: string;
  key: string;
  seq: number;
  entityId: string;
}

export interface MongoJobStoreOptions {
  /** At most this many operations per write command (`DistributedSettings.mongodbMaxWriteOps`). */
  maxWriteOps: number;
  /** How updates of one action document are kept from interleaving; default: the server's own atomicity (MongoDB). */
  updates?: UpdateSerializer;
}

/**
 * The job store on MongoDB, without multi-document transactions (a standalone mongod and FerretDB
 * have none). Each guarantee of the port rests on one single-document atomic write:
 * - one create per request: the `_id` of a claim document (see ActionClaims);
 * - a reader sees an action with its whole plan: the plan is inserted first, the action last;
 * - one outcome per position: the unique index on (actionId, seq);
 * - a batch counted once: the counters move in the same update that adds the batchNo to
 *   `countedBatches`, conditional on its absence;
 * - one completion: the status update is conditional on a non-final status.
 * On a server whose updates are not atomic (FerretDB 1.x) those updates run under a document lock
 * (`options.updates`, see documentLocks.ts); inserts are atomic everywhere.
 * Driver errors are thrown as they are; the core treats them as transient.
 */
export class MongoJobStore implements JobStore {
  private readonly actions: Collection<ActionDocument>;
  private readonly batches: Collection<BatchDocument>;
  private readonly outcomes: Collection<OutcomeDocument>;
  private readonly keyClaims: Collection<KeyClaimDocument>;
  private readonly claims: ActionClaims;
  private readonly updates: UpdateSerializer;
  private readonly purge: MongoPurge;

  constructor(db: Db, private readonly options: MongoJobStoreOptions) {
    this.updates = options.updates ?? ATOMIC_UPDATES;
    this.actions = db.collection<ActionDocument>(COLLECTIONS.actions);
    this.batches = db.collection<BatchDocument>(COLLECTIONS.actionBatches);
    this.outcomes = db.collection<OutcomeDocument>(COLLECTIONS.actionOutcomes);
    this.keyClaims = db.collection<KeyClaimDocument>(COLLECTIONS.actionKeyClaims);
    const claims = db.collection<ClaimDocument>(COLLECTIONS.actionClaims);
    this.claims = new ActionClaims(claims, this.actions, this.updates);
    this.purge = new MongoPurge({
      actions: this.actions, purges: db.collection<PurgeDocument>(COLLECTIONS.actionPurges), outcomes: this.outcomes,
      batches: this.batches, keyClaims: db.collection(COLLECTIONS.actionKeyClaims), claims,
    });
  }

  /**
   * (1) claims, (2) the batch plan, (3) the action document: the commit point. A crash before (3)
   * leaves claims (taken over after STALE_CLAIM_MS) and plan documents nobody reads; no client was
   * told 202. Throws CreateInProgressError (the port's) when an identical create is running.
   */
  async insertAction(input: NewAction, duplicateSince: number | null): Promise<InsertActionResult> {
    const claimed = await this.claims.take(input, duplicateSince);
    if ('existing' in claimed) return claimed.existing;
    try {
      // `_id` = actionId:batchNo, so a retried insert cannot duplicate a batch.
      await insertIgnoringDuplicates(this.batches, input.batches.map(toBatchDocument), this.options.maxWriteOps);
    } catch (thrown) {
      // The insert's own error is what the caller needs; a claim left behind only delays an
      // identical request by STALE_CLAIM_MS.
      await this.claims.release(claimed.taken, input.action.id).catch(() => undefined);
      throw thrown;
    }
    try {
      await this.actions.insertOne(toActionDocument(input));
    } catch (thrown) {
      // The same id again is this very insert retried (the first one's reply was lost): it is stored.
      if (!isDuplicateKeyError(thrown)) throw thrown;
    }
    return { created: true };
  }

  async findExisting(accountId: string, idempotencyKey: string | null, payloadHash: string, duplicateSince: number | null): Promise<ExistingAction | null> {
    return this.claims.findExisting(accountId, idempotencyKey, payloadHash, duplicateSince);
  }

  async markPublished(actionId: string): Promise<void> {
    await this.updates.run(COLLECTIONS.actions, actionId, () => this.actions.updateOne({ _id: actionId, published: false }, { $set: { published: true } }));
  }

  async listUnpublished(createdBefore: number, limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const docs = await this.actions
      .find({ published: false, createdAt: { $lt: createdBefore }, status: { $nin: TERMINAL } }, { projection: { _id: 1 } })
      .sort({ createdAt: 1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => d._id);
  }

  async batchPlan(actionId: string): Promise<BatchMessage[]> {
    const docs = await this.batches.find({ actionId }, { projection: { message: 1 } }).sort({ batchNo: 1 }).toArray();
    return docs.map((d) => d.message);
  }

  async plannedBatch(actionId: string, batchNo: number): Promise<BatchMessage | null> {
    const doc = await this.batches.findOne({ _id: batchDocumentId(actionId, batchNo) }, { projection: { message: 1 } });
    return doc?.message ?? null;
  }

  async getAction(id: string): Promise<BulkAction | null> {
    const doc = await this.actions.findOne({ _id: id });
    return doc ? toAction(doc) : null;
  }

  async listActions(filter: ActionFilter, offset: number, limit: number): Promise<Page<BulkAction>> {
    const where: Filter<ActionDocument> = {};
    if (filter.accountId !== undefined) where.accountId = filter.accountId;
    if (filter.status !== undefined) where.status = filter.status;
    if (filter.entityType !== undefined) where.entityType = filter.entityType;
    const [docs, total] = await Promise.all([
      // limit(0) would mean "no limit" to MongoDB.
      limit <= 0 ? [] : this.actions.find(where).sort({ createdAt: -1, _id: -1 }).skip(offset).limit(limit).toArray(),
      this.actions.countDocuments(where),
    ]);
    return { items: docs.map(toAction), total };
  }

  async markRunning(id: string, at: number): Promise<void> {
    // $min sets startedAt when absent and keeps an earlier one (see ActionDocument).
    await this.updates.run(COLLECTIONS.actions, id, () =>
      this.actions.updateOne({ _id: id, status: { $in: ['PENDING', 'SCHEDULED'] } }, { $set: { status: 'RUNNING' }, $min: { startedAt: at } }));
  }

  async recordedSeqs(actionId: string, seqs: number[]): Promise<Set<number>> {
    if (seqs.length === 0) return new Set();
    const docs = await this.outcomes.find({ actionId, seq: { $in: seqs } }, { projection: { _id: 0, seq: 1 } }).toArray();
    return new Set(docs.map((d) => d.seq));
  }

  /** Unordered inserts; a position that already has an outcome keeps it (the unique index says no). */
  async recordOutcomes(actionId: string, outcomes: Outcome[], at: number): Promise<void> {
    // The first outcome of a position repeated in this call wins, as it would in a sequential insert.
    const first = new Map<number, Outcome>();
    for (const o of outcomes) if (!first.has(o.seq)) first.set(o.seq, o);
    const docs = [...first.values()].map((o) => toOutcomeDocument(actionId, o, at));
    await insertIgnoringDuplicates(this.outcomes, docs, this.options.maxWriteOps);
  }

  /**
   * Reads the batch's outcomes, folds them into the counters in one conditional update, and
   * completes the action when that made it whole. Throws if a seq of the batch has no outcome
   * (the caller must record every position first). 3 round trips; 6 for the batch that completes.
   */
  async finishBatch(actionId: string, batch: BatchRef, at: number): Promise<BulkAction | null> {
    const seqs = [...new Set(batch.seqs)];
    const rows = seqs.length === 0
      ? []
      : await this.outcomes.find({ actionId, seq: { $in: seqs } }, { projection: { _id: 0, status: 1, code: 1 } }).toArray();
    if (rows.length < seqs.length) {
      throw new Error(`finishBatch: ${seqs.length - rows.length} of the ${seqs.length} positions of batch ${batch.batchNo} of action ${actionId} have no outcome`);
    }
    const inc: Record<string, number> = { 'progress.processed': rows.length };
    for (const row of rows) {
      const counter = `progress.${COUNTER_OF[row.status]}`;
      inc[counter] = (inc[counter] ?? 0) + 1;
      if (row.status === 'SUCCESS') continue;
      const code = `errors.${codeKey(row.code ?? 'UNKNOWN')}`;
      inc[code] = (inc[code] ?? 0) + 1;
    }
    const counted = await this.updates.run(COLLECTIONS.actions, actionId, () => this.countBatch(actionId, batch, inc, at));
    // Counted before: still complete the action, in case the call that counted it died before that.
    const doc = counted ?? (await this.actions.findOne({ _id: actionId }));
    if (!doc || TERMINAL.includes(doc.status) || doc.progress.processed < doc.totalEntities) return null;
    return this.complete(doc, at);
  }

  /**
   * The one conditional update that counts a batch (its counts, its batchNo into `countedBatches`;
   * `$exists`: once that is removed at completion, nothing counts any more) and adds its processing
   * interval to `busy`. `busy` is a function of its old value, which no update operator computes
   * (FerretDB 1.x has no pipeline updates), so it is read first and the update is conditional on it
   * being unchanged; when another batch changed it in between, read again (under FerretDB's document
   * lock nothing does). Null when the batch was counted before or the action is over.
   */
  private async countBatch(actionId: string, batch: BatchRef, inc: Record<string, number>, at: number): Promise<ActionDocument | null> {
    const uncounted = { _id: actionId, countedBatches: { $exists: true, $ne: batch.batchNo } };
    const count = { $inc: inc, $addToSet: { countedBatches: batch.batchNo } };
    const { startedAt } = batch;
    if (startedAt === undefined) return this.actions.findOneAndUpdate(uncounted, count, { returnDocument: 'after' });
    for (let tries = 1; ; tries++) {
      const current = await this.actions.findOne(uncounted, { projection: { busy: 1 } });
      if (!current) return null;
      const busy = current.busy ?? NO_BUSY_TIME;
      const unchanged: Filter<ActionDocument> = current.busy === undefined
        ? { busy: { $exists: false } }
        : { 'busy.closedMs': busy.closedMs, 'busy.since': busy.since, 'busy.until': busy.until };
      const counted = await this.actions.findOneAndUpdate(
        { ...uncounted, ...unchanged },
        { ...count, $set: { busy: addBusyInterval(busy, startedAt, at) } },
        { returnDocument: 'after' },
      );
      if (counted) return counted;
      if (tries >= 50) throw new Error(`finishBatch: the processing time of action ${actionId} kept changing under batch ${batch.batchNo}; retry`);
    }
  }

  async claimKeys(actionId: string, claims: KeyClaim[]): Promise<Map<string, KeyClaim>> {
    const first = new Map<string, KeyClaim>();
    for (const c of claims) if (!first.has(c.key)) first.set(c.key, c);
    const docs: KeyClaimDocument[] = [...first.values()].map((c) => ({ _id: `${actionId}:${c.key}`, actionId, key: c.key, seq: c.seq, entityId: c.entityId }));
    const taken = await insertIgnoringDuplicates(this.keyClaims, docs, this.options.maxWriteOps);
    const owners = new Map(first);
    if (taken.length > 0) {
      // Keys another position claimed first: read who owns them.
      const held = await this.keyClaims.find({ _id: { $in: taken.map((i) => (docs[i] as KeyClaimDocument)._id) } }).toArray();
      for (const h of held) owners.set(h.key, { key: h.key, seq: h.seq, entityId: h.entityId });
    }
    return owners;
  }

  /** One document read: the counters and the per-code counts are one snapshot. */
  async getActionWithErrors(actionId: string): Promise<{ action: BulkAction; errorsByCode: Record<string, number> } | null> {
    const doc = await this.actions.findOne({ _id: actionId });
    return doc ? { action: toAction(doc), errorsByCode: errorsByCode(doc) } : null;
  }

  /**
   * `total` comes from the action's counters, not a count over possibly a million outcome
   * documents; it lags the documents only by the batches recorded but not yet finished.
   */
  async listOutcomes(actionId: string, status: OutcomeStatus | null, offset: number, limit: number): Promise<Page<OutcomeLog>> {
    const where: Filter<OutcomeDocument> = status === null ? { actionId } : { actionId, status };
    const [docs, action] = await Promise.all([
      limit <= 0 ? [] : this.outcomes.find(where, { projection: { _id: 0 } }).sort({ seq: 1 }).skip(offset).limit(limit).toArray(),
      this.actions.findOne({ _id: actionId }, { projection: { progress: 1 } }),
    ]);
    const progress = action?.progress;
    const total = progress === undefined ? 0 : status === null ? progress.processed : progress[COUNTER_OF[status]];
    return { items: docs.map(toOutcomeLog), total };
  }

  async countActionsByStatus(): Promise<Record<ActionStatus, number>> {
    const rows = await this.actions.aggregate<{ _id: string; count: number }>([{ $group: { _id: '$status', count: { $sum: 1 } } }]).toArray();
    return countsByStatus(rows.map((r) => ({ status: r._id, count: r.count })));
  }

  async ping(): Promise<void> {
    // A real read by _id (the primary index) rather than the ping command: it needs the database, not only a socket.
    await this.actions.findOne({ _id: '' }, { projection: { _id: 1 } });
  }

  async purgeExpired(completedBefore: number, maxRows: number): Promise<PurgeSlice> {
    return this.purge.slice(completedBefore, maxRows);
  }

  async close(): Promise<void> {
    // The client is owned and closed by openMongoStores' close().
  }

  /**
   * Drops the temporary data, then sets the final status. In that order: if this process dies in
   * between, a redelivered batch finds the action whole but not final and comes back here.
   * Returns the action only from the call whose conditional update set the status.
   */
  private async complete(doc: ActionDocument, at: number): Promise<BulkAction | null> {
    const { succeeded, failed } = doc.progress;
    const status = succeeded === 0 && failed > 0 ? 'FAILED' : 'COMPLETED';
    const finished = await this.updates.run(COLLECTIONS.actions, doc._id, () =>
      this.actions.findOneAndUpdate(
        { _id: doc._id, status: { $nin: TERMINAL } },
        { $set: { status, completedAt: at }, $unset: { countedBatches: '' } },
        { returnDocument: 'after' },
      ));
    if (!finished) return null;
    // The status first, the temporary data after: workers check every batch against the plan, so
    // a plan deleted before the status would leave a redelivered last batch unable to finish the
    // action. A crash in between leaves only garbage of a finished action (no batch reads it).
    await Promise.all([this.keyClaims.deleteMany({ actionId: doc._id }), this.batches.deleteMany({ actionId: doc._id })]);
    return toAction(finished);
  }
}
