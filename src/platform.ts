import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { RateLimiter } from './actions/rateLimiter';
import { SlidingWindowRateLimiter } from './adapters/memory/slidingWindowRateLimiter';
import { openDatabase } from './adapters/sqlite/database';
import { SqliteBatchQueue, type SqliteQueueOptions } from './adapters/sqlite/sqliteBatchQueue';
import { SqliteEntityStore } from './adapters/sqlite/sqliteEntityStore';
import { SqliteJobStore } from './adapters/sqlite/sqliteJobStore';
import { WriteLock } from './adapters/sqlite/writeLock';
import type { Config } from './config';
import { handlerFor, handlers as builtInHandlers, type HandlerRegistry } from './handlers/index';
import type { Logger } from './observability/logger';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './processing/retryPolicy';
import type { BatchQueue } from './queue/batchQueue';
import type { EntityStore } from './store/entityStore';
import type { JobStore } from './store/jobStore';

/** Everything the API and the workers need, built once from resolved config. */
export interface Platform {
  config: Config;
  logger: Logger;
  jobStore: JobStore;
  entityStore: EntityStore;
  queue: BatchQueue;
  rateLimiter: RateLimiter;
  handlers: HandlerRegistry;
  retry: RetryPolicy;
  now: () => number;
  newId: () => string;
  /** Embedded mode: worker threads opening the same SQLite file share this lock with the API's connection. */
  writeLockBuffer: SharedArrayBuffer;
  close(): Promise<void>;
}

export interface PlatformOptions {
  logger: Logger;
  /** Defaults to the registry in src/handlers/index.ts; tests add their own types. */
  handlers?: HandlerRegistry;
  now?: () => number;
}

export const DATABASE_FILE = 'bulk-actions.db';

/** The stores and queue of one embedded data dir, on one SQLite connection. */
export interface EmbeddedStores {
  jobStore: SqliteJobStore;
  entityStore: SqliteEntityStore;
  queue: SqliteBatchQueue;
  close(): Promise<void>;
}

/** Opens the embedded SQLite file and builds its adapters. Worker threads call this too, each with its own connection. */
export function openEmbeddedStores(
  config: Config,
  handlers: HandlerRegistry,
  options: { queue?: SqliteQueueOptions; writeLock: WriteLock },
): EmbeddedStores {
  const db = openDatabase(path.join(config.dataDir, DATABASE_FILE), { writeLock: options.writeLock });
  // A batch given back waits as long as a first retry would.
  const queue = new SqliteBatchQueue(db, { retryDelayMs: config.retry.baseDelayMs, ...options.queue });
  return {
    jobStore: new SqliteJobStore(db),
    entityStore: new SqliteEntityStore(db, (type) => handlerFor(handlers, type)?.dedupeKey),
    queue,
    close: async () => {
      await queue.close();
      db.close();
    },
  };
}

/**
 * The composition root: the only place that picks adapters. Embedded mode keeps the job store,
 * the entities and the queue in one SQLite file under DATA_DIR.
 */
export function buildPlatform(config: Config, options: PlatformOptions): Platform {
  const handlers = options.handlers ?? builtInHandlers;
  const writeLock = new WriteLock();
  const stores = openEmbeddedStores(config, handlers, { writeLock });
  // One process owns an embedded data dir, so leases left by a previous run are stale.
  const released = stores.queue.releaseAllLeases();
  if (released > 0) options.logger.warn({ released }, 'released batches leased by a previous run');
  return {
    config,
    logger: options.logger,
    jobStore: stores.jobStore,
    entityStore: stores.entityStore,
    queue: stores.queue,
    rateLimiter: new SlidingWindowRateLimiter(config.rateLimitPerMinute),
    handlers,
    retry: retryPolicyOf(config),
    now: options.now ?? Date.now,
    newId: randomUUID,
    writeLockBuffer: writeLock.buffer,
    close: stores.close,
  };
}

export function retryPolicyOf(config: Config): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...config.retry };
}
