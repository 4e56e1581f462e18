import { setTimeout } from 'node:timers/promises';
import type { Collection, Db } from 'mongodb';
import { slidingWindowStep, type RateDecision, type RateLimiter } from '../../actions/rateLimiter';
import { isDuplicateKeyError } from './bulkInsert';
import { ATOMIC_UPDATES, type UpdateSerializer } from './documentLocks';
import { COLLECTIONS } from './schema';

/** One key's allowed hits in `rate_limits`. */
interface RateLimitDocument {
  _id: string;
  /** Times (epoch ms) of the allowed hits still in the window, ascending. */
  hits: number[];
  /** Bumped by every write: the optimistic-concurrency check. */
  version: number;
  /** When every hit has left the window (server clock): the TTL index removes the idle key then. */
  expiresAt: Date;
}

/**
 * A hit array costs about 16 bytes per entry in BSON; MongoDB's documents stop at 16 MiB, so a
 * window holds at most this many hits.
 */
export const MAX_LIMIT = 500_000;

/** Reads and conditional writes one decision may take when other processes write the same key. */
const MAX_ATTEMPTS = 25;

/** Thrown when a key stayed contended for MAX_ATTEMPTS tries: transient, the request may be retried. */
export class RateLimitContentionError extends Error {
  override readonly name = 'RateLimitContentionError';
}

/**
 * The sliding-window limiter of `SlidingWindowRateLimiter`, shared by every API process through
 * MongoDB: at most `limit` allowed hits per key in any window (at - windowMs, at]; denied hits
 * are not recorded; a denial says when the oldest allowed hit leaves the window (ceil, seconds,
 * at least 1).
 *
 * Each decision reads the key's document, decides in JS and writes back only if the document is
 * still the version it read (a new key: an insert, whose duplicate-key error means another
 * process wrote first). A lost race reads again, at most MAX_ATTEMPTS times. A denial writes
 * nothing. On a server without TTL indexes (FerretDB 1.x) idle keys stay: one small document per key.
 */
export class MongoRateLimiter implements RateLimiter {
  private readonly collection: Collection<RateLimitDocument>;

  /**
   * `windowMs` in ms. `options.updates`: see documentLocks.ts (on FerretDB 1.x a key's decisions
   * run under its lock, since its conditional updates are not atomic). `options.now`: the clock of
   * `expiresAt`, which the TTL monitor compares with the server's time, not with `at`.
   */
  constructor(
    db: Db,
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly options: { updates?: UpdateSerializer; now?: () => number } = {},
  ) {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new RangeError(`limit must be an integer from 1 to ${MAX_LIMIT}; got ${limit}`);
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive; got ${windowMs}`);
    this.collection = db.collection<RateLimitDocument>(COLLECTIONS.rateLimits);
  }

  async hit(key: string, at: number): Promise<RateDecision> {
    return (this.options.updates ?? ATOMIC_UPDATES).run(COLLECTIONS.rateLimits, key, () => this.decide(key, at));
  }

  private async decide(key: string, at: number): Promise<RateDecision> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const doc = await this.collection.findOne({ _id: key });
      const { decision, hits } = slidingWindowStep(doc?.hits ?? [], at, this.limit, this.windowMs);
      if (hits === null) return decision;
      const expiresAt = new Date(Math.max(hits[hits.length - 1] as number, (this.options.now ?? Date.now)()) + this.windowMs);
      if (await this.write(key, doc?.version ?? null, hits, expiresAt)) return decision;
      // Lost a race: a random pause, growing with the attempts, keeps the losers from colliding again.
      await setTimeout(Math.random() * 2 * (attempt + 1));
    }
    throw new RateLimitContentionError(`rate limit key ${key} stayed contended for ${MAX_ATTEMPTS} attempts`);
  }

  /** Writes the new hits if the document is still at `version` (null: it did not exist). */
  private async write(key: string, version: number | null, hits: number[], expiresAt: Date): Promise<boolean> {
    if (version === null) {
      try {
        await this.collection.insertOne({ _id: key, hits, version: 1, expiresAt });
        return true;
      } catch (thrown) {
        if (isDuplicateKeyError(thrown)) return false;
        throw thrown;
      }
    }
    const result = await this.collection.updateOne({ _id: key, version }, { $set: { hits, version: version + 1, expiresAt } });
    return result.matchedCount === 1;
  }
}
