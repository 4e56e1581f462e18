import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import type { Collection, Db } from 'mongodb';
import { isDuplicateKeyError } from './bulkInsert';
import { COLLECTIONS } from './schema';

/**
 * Runs an update of one document so that no other update of the same document interleaves with
 * it. On MongoDB every single-document update is atomic by itself, so `ATOMIC_UPDATES` just runs
 * it. FerretDB 1.x applies an update as "read the document, change it in memory, write the whole
 * document back", with nothing stopping a concurrent update in between: measured on 1.24.2, 20
 * concurrent `$inc` of one field leave it at 2, and 12 racing conditional updates all report a
 * match. There, `DocumentLocks` serialises the updates of a document across processes.
 */
export interface UpdateSerializer {
  /** Runs `update` (which writes the document `id` of `scope`) as the only writer of that document. */
  run<T>(scope: string, id: string, update: () => Promise<T>): Promise<T>;
}

export const ATOMIC_UPDATES: UpdateSerializer = { run: (_scope, _id, update) => update() };

/** One held lock in `document_locks`. */
interface LockDocument {
  _id: string;
  token: string;
  /** After this (epoch ms) the holder is presumed dead and the lock may be taken from it. */
  expiresAt: number;
}

export interface DocumentLockOptions {
  /** How long a holder may keep a lock before another process takes it over (ms). */
  leaseMs: number;
  /** How long to wait for a lock before throwing (ms): the caller's batch or request is retried. */
  waitMs: number;
}

/**
 * Cross-process locks made of the one write FerretDB does apply atomically: inserting a document
 * whose `_id` is taken fails. Acquire = insert `<scope>:<id>`; release = delete it. A lock older
 * than its lease (its holder died) is deleted by the next waiter. Only for servers without atomic
 * updates: each guarded update costs two more round trips.
 */
export class DocumentLocks implements UpdateSerializer {
  private readonly locks: Collection<LockDocument>;

  constructor(db: Db, private readonly options: DocumentLockOptions = { leaseMs: 10_000, waitMs: 30_000 }) {
    this.locks = db.collection<LockDocument>(COLLECTIONS.documentLocks);
  }

  async run<T>(scope: string, id: string, update: () => Promise<T>): Promise<T> {
    const lockId = `${scope}:${id}`;
    const token = randomUUID();
    await this.acquire(lockId, token);
    try {
      return await update();
    } finally {
      await this.locks.deleteOne({ _id: lockId, token });
    }
  }

  private async acquire(lockId: string, token: string): Promise<void> {
    const giveUpAt = Date.now() + this.options.waitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.locks.insertOne({ _id: lockId, token, expiresAt: Date.now() + this.options.leaseMs });
        return;
      } catch (thrown) {
        if (!isDuplicateKeyError(thrown)) throw thrown;
      }
      const held = await this.locks.findOne({ _id: lockId });
      if (held !== null && held.expiresAt < Date.now()) {
        await this.locks.deleteOne({ _id: lockId, token: held.token });
        continue;
      }
      if (Date.now() > giveUpAt) throw new Error(`waited more than ${this.options.waitMs} ms for the lock ${lockId}`);
      // Short pauses first (updates take a few ms), growing to 20 ms, with jitter against lockstep.
      await setTimeout(Math.min(20, 1 + attempt) * (0.5 + Math.random()));
    }
  }
}
