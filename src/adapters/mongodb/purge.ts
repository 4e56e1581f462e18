import type { Collection } from 'mongodb';
import type { PurgeSlice } from '../../store/jobStore';
import type { ClaimDocument } from './actionClaims';
import { TERMINAL, type ActionDocument, type BatchDocument, type OutcomeDocument } from './actionDocuments';
import { isDuplicateKeyError } from './bulkInsert';

/** `action_purges`: an action whose document is gone and whose outcome documents are being deleted. */
export interface PurgeDocument {
  _id: string;
  /** When its removal began (epoch ms): for operators. */
  startedAt: number;
}

/** The collections the purge deletes from. */
export interface PurgeCollections {
  actions: Collection<ActionDocument>;
  purges: Collection<PurgeDocument>;
  outcomes: Collection<OutcomeDocument>;
  batches: Collection<BatchDocument>;
  keyClaims: Collection<{ _id: string; actionId: string }>;
  claims: Collection<ClaimDocument>;
}

/**
 * The retention purge on MongoDB (JobStore.purgeExpired), without transactions or TTL indexes
 * (FerretDB 1.x has neither), so the same sliced purge as on SQLite:
 * 1. note the action in `action_purges`, then delete its document: the moment it is gone for readers;
 * 2. delete its outcome documents a range of `maxRows` seqs at a time (the (actionId, seq) index);
 * 3. once none is left, delete its duplicate claims, plan and key claims, then the note.
 * Each step is idempotent, the note is written first and deleted last, and every slice that works
 * on a note deletes the action document again (one `_id` lookup), so a crash at any point, or two
 * processes purging at once, leave nothing behind and never show a half-purged action.
 * Space is the server's business (MongoDB reuses and compacts it; FerretDB's PostgreSQL vacuums).
 */
export class MongoPurge {
  constructor(
    private readonly c: PurgeCollections,
    private readonly now: () => number = Date.now,
  ) {}

  async slice(completedBefore: number, maxRows: number): Promise<PurgeSlice> {
    const limit = Math.max(1, maxRows);
    let budget = limit;
    let actionsRemoved = 0;
    while (budget > 0) {
      let actionId = (await this.c.purges.findOne({}, { sort: { _id: 1 }, projection: { _id: 1 } }))?._id;
      if (actionId === undefined) {
        const expired = await this.c.actions.findOne(
          { status: { $in: TERMINAL }, completedAt: { $lt: completedBefore } },
          { sort: { completedAt: 1 }, projection: { _id: 1 } },
        );
        if (!expired) break;
        actionId = expired._id;
        await this.note(actionId);
        actionsRemoved++;
      }
      budget -= (await this.c.actions.deleteOne({ _id: actionId, status: { $in: TERMINAL } })).deletedCount;
      const asked = Math.max(budget, 0);
      const deleted = asked === 0 ? 0 : await this.deleteOutcomes(actionId, asked);
      budget -= deleted;
      // Fewer documents than asked for: none are left.
      if (deleted < asked) budget -= await this.endRemoval(actionId);
    }
    return { actionsRemoved, rowsDeleted: limit - budget, bytesReclaimed: 0, done: budget > 0 };
  }

  private async note(actionId: string): Promise<void> {
    try {
      await this.c.purges.insertOne({ _id: actionId, startedAt: this.now() });
    } catch (thrown) {
      if (!isDuplicateKeyError(thrown)) throw thrown; // another process began it
    }
  }

  /** The action's small documents, then its note. Returns the documents deleted (the note not counted). */
  private async endRemoval(actionId: string): Promise<number> {
    const results = await Promise.all([
      this.c.claims.deleteMany({ actionId }),
      this.c.batches.deleteMany({ actionId }),
      this.c.keyClaims.deleteMany({ actionId }),
    ]);
    await this.c.purges.deleteOne({ _id: actionId });
    return results.reduce((sum, r) => sum + r.deletedCount, 0);
  }

  /** Deletes the `limit` lowest seqs of the action's outcomes (fewer if fewer are left); returns how many went. */
  private async deleteOutcomes(actionId: string, limit: number): Promise<number> {
    // The limit-th seq bounds a range delete on (actionId, seq): no `$in` list (FerretDB does not use an index for one).
    const [last] = await this.c.outcomes.find({ actionId }, { projection: { _id: 0, seq: 1 } }).sort({ seq: 1 }).skip(limit - 1).limit(1).toArray();
    const { deletedCount } = await this.c.outcomes.deleteMany(last ? { actionId, seq: { $lte: last.seq } } : { actionId });
    return deletedCount;
  }
}
