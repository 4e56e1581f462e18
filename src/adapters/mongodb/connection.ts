import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import type { RateLimiter } from '../../actions/rateLimiter';
import type { DistributedSettings } from '../../config';
import type { Logger } from '../../observability/logger';
import type { DedupeFieldOf } from '../../store/entityStore';
import { ATOMIC_UPDATES, DocumentLocks, type UpdateSerializer } from './documentLocks';
import { MongoApiKeyStore } from './mongoApiKeyStore';
import { MongoEntityStore } from './mongoEntityStore';
import { MongoJobStore } from './mongoJobStore';
import { MongoRateLimiter } from './mongoRateLimiter';
import { ensureIndexes } from './schema';

/** The distributed mode's MongoDB adapters, on one client. */
export interface MongoStores {
  jobStore: MongoJobStore;
  entityStore: MongoEntityStore;
  apiKeyStore: MongoApiKeyStore;
  /** A limiter shared by every process on this database: `limit` allowed hits per key per `windowMs` (default one minute). */
  rateLimiter(limit: number, windowMs?: number): RateLimiter;
  /** Closes the client (the stores' own close() does nothing). */
  close(): Promise<void>;
}

/**
 * Connects with the official driver, opens `settings.mongodbDatabase`, creates the job store's
 * and rate limiter's indexes, and builds the adapters. On FerretDB, whose updates are not atomic,
 * updates of one document are serialised with document locks (see documentLocks.ts). Throws the
 * driver's error if the server cannot be reached (after the driver's server selection timeout,
 * 30 s) or refuses an index.
 */
export async function openMongoStores(settings: DistributedSettings, dedupeFieldOf: DedupeFieldOf, logger?: Logger): Promise<MongoStores> {
  const client = new MongoClient(settings.mongodbUrl, clientOptions(settings.mongodbUrl));
  try {
    await client.connect();
    const db = client.db(settings.mongodbDatabase);
    await ensureIndexes(db, logger);
    const updates = await updateSerializerFor(db, logger);
    const maxWriteOps = settings.mongodbMaxWriteOps;
    return {
      jobStore: new MongoJobStore(db, { maxWriteOps, updates }),
      entityStore: new MongoEntityStore(db, dedupeFieldOf, { maxWriteOps, logger }),
      apiKeyStore: new MongoApiKeyStore(db),
      rateLimiter: (limit, windowMs) => new MongoRateLimiter(db, limit, windowMs, { updates }),
      close: () => client.close(),
    };
  } catch (thrown) {
    await client.close().catch(() => undefined);
    throw thrown;
  }
}

/**
 * MongoDB's own atomicity, or document locks on FerretDB (which reports itself in buildInfo with
 * fields MongoDB never has). Identity rather than a probe: lost updates only show under load.
 */
export async function updateSerializerFor(db: Db, logger?: Logger): Promise<UpdateSerializer> {
  if (!(await isFerretDb(db))) return ATOMIC_UPDATES;
  logger?.warn('the server is FerretDB, whose updates are not atomic: updates of one document run under a lock document');
  return new DocumentLocks(db);
}

/** Whether the server is FerretDB: its buildInfo has fields MongoDB never sends. */
export async function isFerretDb(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return 'ferretdbVersion' in info || 'ferretdbFeatures' in info;
}

/**
 * Defaults for what the URL does not say (the URL's own options win):
 * - `w: 'majority'`: an acknowledged write survives a primary failover, so a 202 or a counted
 *   batch is not rolled back. (A standalone server treats it as w: 1.)
 * - `maxPoolSize: 20`: a process runs a few batches and requests at a time, each a handful of
 *   sequential commands; the driver's default of 100 would only multiply server connections.
 * - `retryWrites` stays the driver's default (true) unless the URL says otherwise: single-document
 *   writes and insertMany are retried once on a network error; every write here is safe to repeat.
 * - `ignoreUndefined`: an optional property left undefined is omitted, not stored as null.
 */
export function clientOptions(url: string): MongoClientOptions {
  return {
    appName: 'bulk-action-platform',
    ignoreUndefined: true,
    ...(urlHasOption(url, 'w') ? {} : { writeConcern: { w: 'majority' } }),
    ...(urlHasOption(url, 'maxPoolSize') ? {} : { maxPoolSize: 20 }),
  };
}

function urlHasOption(url: string, name: string): boolean {
  const query = url.split('?')[1] ?? '';
  return query.split('&').some((pair) => pair.split('=')[0]?.toLowerCase() === name.toLowerCase());
}
