import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { RateLimiter } from './actions/rateLimiter';
import { SlidingWindowRateLimiter } from './adapters/memory/slidingWindowRateLimiter';
import { openDatabase } from './adapters/sqlite/database';
import { SqliteBatchQueue } from './adapters/sqlite/sqliteBatchQueue';
import { SqliteEntityStore } from './adapters/sqlite/sqliteEntityStore';
import { SqliteJobStore } from './adapters/sqlite/sqliteJobStore';
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
  close(): Promise<void>;
}

export interface PlatformOptions {
  logger: Logger;
  /** Defaults to the registry in src/handlers/index.ts; tests add their own types. */
  handlers?: HandlerRegistry;
  now?: () => number;
}

export const DATABASE_FILE = 'bulk-actions.db';

/**
 * The composition root: the only place that picks adapters. Embedded mode keeps the job store,
 * the entities and the queue in one SQLite file under DATA_DIR.
 */
export function buildPlatform(config: Config, options: PlatformOptions): Platform {
  const handlers = options.handlers ?? builtInHandlers;
  const db = openDatabase(path.join(config.dataDir, DATABASE_FILE));
  const queue = new SqliteBatchQueue(db);
  // One process owns an embedded data dir, so leases left by a previous run are stale.
  const released = queue.releaseAllLeases();
  if (released > 0) options.logger.warn({ released }, 'released batches leased by a previous run');
  return {
    config,
    logger: options.logger,
    jobStore: new SqliteJobStore(db),
    entityStore: new SqliteEntityStore(db, (type) => handlerFor(handlers, type)?.dedupeKey),
    queue,
    rateLimiter: new SlidingWindowRateLimiter(config.rateLimitPerMinute),
    handlers,
    retry: { ...DEFAULT_RETRY_POLICY, ...config.retry },
    now: options.now ?? Date.now,
    newId: randomUUID,
    close: async () => {
      await queue.close();
      db.close();
    },
  };
}
