import type { Statement } from 'better-sqlite3';
import type { PurgeSlice } from '../../store/jobStore';
import type { SqliteDatabase } from './database';

/** Pages one slice hands back to the file system (4 KiB each): about 3 ms of incremental_vacuum here. */
const VACUUM_PAGES_PER_SLICE = 512;

/** `PRAGMA auto_vacuum` value of a file that can give pages back a few at a time. */
const AUTO_VACUUM_INCREMENTAL = 2;

/**
 * The retention purge on SQLite (JobStore.purgeExpired), one short write transaction per slice.
 *
 * An action is removed in two steps (migration 005): first its row and its small per-action rows
 * go in one transaction, and its number is noted in `action_purges`; then its outcome rows are
 * deleted `maxRows` at a time, by primary key, and the number is dropped with the last of them.
 * Numbers in `action_purges` are never given to a new action (see insertAction), so rows left of
 * a purged action are never read as another's. Dead letters go by their own age. Once no row is
 * left to delete, slices run `PRAGMA incremental_vacuum` on files created with
 * auto_vacuum=INCREMENTAL (a file from before migration 005 only reuses the freed pages).
 */
export class SqlitePurge {
  private readonly s: Record<
    'nextPurge' | 'nextExpired' | 'notePurge' | 'dropErrors' | 'dropClaims' | 'dropBatches' | 'dropAction' | 'deleteOutcomes' |
    'endPurge' | 'deleteDeadLetters',
    Statement
  >;
  private readonly incremental: boolean;
  private readonly pageSize: number;

  constructor(private readonly db: SqliteDatabase) {
    this.incremental = db.pragma('auto_vacuum', { simple: true }) === AUTO_VACUUM_INCREMENTAL;
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
    this.s = {
      nextPurge: db.prepare('SELECT action_no FROM action_purges ORDER BY action_no LIMIT 1').pluck(),
      nextExpired: db.prepare(`SELECT no, id FROM actions WHERE completed_at < ? AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
        ORDER BY completed_at LIMIT 1`),
      notePurge: db.prepare('INSERT INTO action_purges (action_no) VALUES (?)'),
      dropErrors: db.prepare('DELETE FROM action_error_counts WHERE action_no = ?'),
      dropClaims: db.prepare('DELETE FROM action_key_claims WHERE action_no = ?'),
      dropBatches: db.prepare('DELETE FROM action_batches WHERE action_no = ?'),
      dropAction: db.prepare('DELETE FROM actions WHERE no = ?'),
      // The first `limit` rows of one action, by primary key: no scan, whatever the table's size.
      deleteOutcomes: db.prepare(`DELETE FROM action_outcomes WHERE action_no = ?
        AND seq IN (SELECT seq FROM action_outcomes WHERE action_no = ? ORDER BY seq LIMIT ?)`),
      endPurge: db.prepare('DELETE FROM action_purges WHERE action_no = ?'),
      deleteDeadLetters: db.prepare(`DELETE FROM queue_dead_letters
        WHERE id IN (SELECT id FROM queue_dead_letters WHERE dead_lettered_at < ? ORDER BY dead_lettered_at LIMIT ?)`),
    };
  }

  /** One slice; `removed` lists the ids of the actions whose removal it began (for the caller's caches). */
  slice(completedBefore: number, maxRows: number): PurgeSlice & { removed: string[] } {
    const removal = this.db.writeTransaction(() => this.deleteRows(completedBefore, Math.max(1, maxRows)));
    if (!removal.done) {
      this.checkpoint();
      return { ...removal, bytesReclaimed: 0 };
    }
    const bytesReclaimed = this.reclaimSpace();
    if (removal.rowsDeleted > 0 || bytesReclaimed > 0) this.checkpoint();
    return { ...removal, bytesReclaimed, done: bytesReclaimed === 0 };
  }

  /**
   * Copies what the slice wrote from the WAL into the file now, outside the write lock. Otherwise
   * the commit that takes the WAL past 1,000 pages checkpoints inside its transaction, fsync
   * included, with the lock held: 40 to 190 ms measured on the 2-core machine, against about 1 ms
   * for the slice itself. A passive checkpoint waits for no reader or writer.
   */
  private checkpoint(): void {
    this.db.pragma('wal_checkpoint(PASSIVE)');
  }

  /** Deletes up to `maxRows` rows (an action row and its small rows count as they go); done when it ran out of work first. */
  private deleteRows(completedBefore: number, maxRows: number): Omit<PurgeSlice, 'bytesReclaimed'> & { removed: string[] } {
    let budget = maxRows;
    const removed: string[] = [];
    while (budget > 0) {
      let no = this.s.nextPurge.get() as number | undefined;
      if (no === undefined) {
        const expired = this.s.nextExpired.get(completedBefore) as { no: number; id: string } | undefined;
        if (!expired) break;
        budget -= this.beginRemoval(expired.no);
        removed.push(expired.id);
        no = expired.no;
      }
      const asked = Math.max(budget, 0);
      const deleted = asked === 0 ? 0 : this.s.deleteOutcomes.run(no, no, asked).changes;
      budget -= deleted;
      // Fewer rows than asked for: none are left.
      if (deleted < asked) this.s.endPurge.run(no);
    }
    if (budget > 0) budget -= this.s.deleteDeadLetters.run(completedBefore, budget).changes;
    return { actionsRemoved: removed.length, rowsDeleted: maxRows - budget, done: budget > 0, removed };
  }

  /** The action and its small rows, in the caller's transaction; its outcome rows are left for the slices. Returns the rows deleted. */
  private beginRemoval(no: number): number {
    this.s.notePurge.run(no);
    let deleted = 0;
    for (const statement of [this.s.dropErrors, this.s.dropClaims, this.s.dropBatches, this.s.dropAction]) deleted += statement.run(no).changes;
    return deleted;
  }

  /** Hands free pages back to the file system, a bounded number per call; the bytes given back. */
  private reclaimSpace(): number {
    if (!this.incremental) return 0;
    const free = () => this.db.pragma('freelist_count', { simple: true }) as number;
    const before = free();
    if (before === 0) return 0;
    this.db.writeLocked(() => this.db.pragma(`incremental_vacuum(${VACUUM_PAGES_PER_SLICE})`));
    return (before - free()) * this.pageSize;
  }
}
