import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { RateLimiter } from './actions/rateLimiter';
import type { ApiKeyStore } from './auth/apiKeyStore';
import { SqliteApiKeyStore } from './adapters/sqlite/sqliteApiKeyStore';
import { SlidingWindowRateLimiter } from './adapters/memory/slidingWindowRateLimiter';
import { openDatabase } from './adapters/sqlite/database';
import { SqliteBatchQueue, type SqliteQueueOptions } from './adapters/sqlite/sqliteBatchQueue';
import { SqliteEntityStore } from './adapters/sqlite/sqliteEntityStore';
import { SqliteJobStore } from './adapters/sqlite/sqliteJobStore';
import { lockDataDir } from './adapters/sqlite/dataDirLock';
import { WriteLock } from './adapters/sqlite/writeLock';
import { redactUrl, type Config, type DistributedSettings } from './config';
import { toError } from './errors';
import { assertValidRegistry, handlerFor, handlers as builtInHandlers, type HandlerRegistry } from './handlers/index';
import type { Logger } from './observability/logger';
import { PlatformMetrics } from './observability/metrics';
import { crashHooks, withCrashOnWrite, type CrashHooks } from './processing/crashPoints';
import { DEFAULT_RETRY_POLICY, retryDelayMs, type RetryPolicy } from './processing/retryPolicy';
import type { BatchQueue, QueueRetry } from './queue/batchQueue';
import type { DedupeFieldOf, EntityStore } from './store/entityStore';
import type { JobStore } from './store/jobStore';
import { withSimulatedLatency } from './store/simulatedLatency';

/** Everything the API and the workers need, built once from resolved config. */
export interface Platform {
  config: Config;
  logger: Logger;
  jobStore: JobStore;
  entityStore: EntityStore;
  /** Stored API keys (`npm run keys`); the API also accepts config.apiKeys (src/auth/). */
  apiKeyStore: ApiKeyStore;
  queue: BatchQueue;
  rateLimiter: RateLimiter;
  handlers: HandlerRegistry;
  retry: RetryPolicy;
  now: () => number;
  newId: () => string;
  /** This process's Prometheus metrics (GET /metrics); worker threads add theirs (src/observability/). */
  metrics: PlatformMetrics;
  /** Tests only: the crash point FAULT_CRASH_AT arms (none in production). */
  faults: CrashHooks;
  /** Embedded mode only: worker threads opening the same SQLite file share this lock with the API's connection. */
  writeLockBuffer: SharedArrayBuffer | null;
  close(): Promise<void>;
}

export interface PlatformOptions {
  logger: Logger;
  /** Defaults to the registry in src/handlers/index.ts; tests add their own types. */
  handlers?: HandlerRegistry;
  now?: () => number;
}

export const DATABASE_FILE = 'bulk-actions.db';

/** A server the platform needs could not be reached or refused it at start-up. `cause` is the driver's error. */
export class UnreachableServerError extends Error {
  constructor(server: string, setting: string, url: string, cause: unknown) {
    super(`could not start with ${server} at ${setting}=${redactUrl(url)}: ${toError(cause).message}`, { cause });
    this.name = 'UnreachableServerError';
  }
}

/** The stores and queue of one mode, and how to close them. */
interface Stores {
  jobStore: JobStore;
  entityStore: EntityStore;
  apiKeyStore: ApiKeyStore;
  queue: BatchQueue;
  close(): Promise<void>;
}

/** The stores and queue of one embedded data dir, on one SQLite connection. */
export interface EmbeddedStores extends Stores {
  queue: SqliteBatchQueue;
}

/** Opens the embedded SQLite file and builds its adapters. Worker threads call this too, each with its own connection. */
export function openEmbeddedStores(
  config: Config,
  handlers: HandlerRegistry,
  options: { queue?: Partial<SqliteQueueOptions>; writeLock: WriteLock },
): EmbeddedStores {
  const db = openDatabase(path.join(config.dataDir, DATABASE_FILE), { writeLock: options.writeLock });
  const queue = new SqliteBatchQueue(db, { retry: queueRetryOf(config), ...options.queue });
  const entityStore = new SqliteEntityStore(db, dedupeFieldOf(handlers));
  return {
    jobStore: new SqliteJobStore(db),
    entityStore: withCrmLatency(config, entityStore),
    apiKeyStore: new SqliteApiKeyStore(db),
    queue,
    close: async () => {
      await queue.close();
      db.close();
    },
  };
}

/** What a create writes to: the job store (the action and its batch plan) and the queue (its batches). */
export type CreateStores = Omit<Stores, 'entityStore' | 'apiKeyStore'>;

/**
 * The create thread's own job store and queue (src/actions/createThread/), on connections of its
 * own. Embedded: another connection to the data dir's file, taking turns on the process's write
 * lock (`writeLockBuffer`, required) with its other threads; nothing is released that the process
 * has not already released.
 * Distributed: a MongoDB client and a RabbitMQ connection of its own (publish only). Throws
 * UnreachableServerError when either cannot be reached; leaves nothing open then.
 */
export async function openCreateStores(config: Config, writeLockBuffer: SharedArrayBuffer | null, logger: Logger): Promise<CreateStores> {
  if (!config.distributed) {
    if (!writeLockBuffer) throw new Error('embedded mode: the create thread needs the process write lock');
    const writeLock = new WriteLock(writeLockBuffer, { timeoutMs: config.lifecycle.writeLockTimeoutMs });
    // busyPollMs: a create waiting for npm run seed gets in between two of its transactions, not several later.
    const db = openDatabase(path.join(config.dataDir, DATABASE_FILE), { writeLock, busyPollMs: 1 });
    const queue = new SqliteBatchQueue(db, { retry: queueRetryOf(config) });
    return {
      jobStore: new SqliteJobStore(db),
      queue,
      close: async () => {
        await queue.close();
        db.close();
      },
    };
  }
  const { mongo, queue, close } = await connectDistributed(config, config.distributed, () => undefined, logger);
  return { jobStore: mongo.jobStore, queue, close };
}

/** What differs between the modes: the stores, the queue, the rate limiter and (embedded) the write lock. */
type ModeParts = Stores & { rateLimiter: RateLimiter; writeLockBuffer: SharedArrayBuffer | null };

/**
 * The composition root: the only place that picks adapters. Embedded mode keeps the job store,
 * the entities and the queue in one SQLite file under DATA_DIR; distributed mode keeps the job
 * and the entities in MongoDB and sends the batches through RabbitMQ.
 */
export async function buildPlatform(config: Config, options: PlatformOptions): Promise<Platform> {
  const handlers = options.handlers ?? builtInHandlers;
  assertValidRegistry(handlers);
  const { logger } = options;
  const parts = config.distributed
    ? await openDistributed(config, config.distributed, handlers, logger)
    : await openEmbedded(config, handlers, logger);
  return {
    config,
    logger,
    ...parts,
    handlers,
    retry: retryPolicyOf(config),
    now: options.now ?? Date.now,
    newId: randomUUID,
    // Queue depth and actions by status are read at scrape time where the API runs; a worker role reports only its own work.
    metrics: new PlatformMetrics(
      config.role === 'worker' ? null : { queueDepth: () => parts.queue.depth(), actionsByStatus: () => parts.jobStore.countActionsByStatus() },
    ),
    faults: crashHooks(config.faultCrashAt),
  };
}

/** Rejects with DataDirLockedError while another process holds the data dir (past DATA_DIR_LOCK_WAIT_MS). */
async function openEmbedded(config: Config, handlers: HandlerRegistry, logger: Logger): Promise<ModeParts> {
  // Before anything touches the database: one process owns an embedded data dir.
  const dataDirLock = await lockDataDir(config.dataDir, {
    waitMs: config.lifecycle.dataDirLockWaitMs,
    onWaiting: (holderPid) => logger.info({ dataDir: config.dataDir, holderPid, waitMs: config.lifecycle.dataDirLockWaitMs }, 'waiting for the process that holds the data dir to exit'),
  });
  try {
    const writeLock = new WriteLock(undefined, { timeoutMs: config.lifecycle.writeLockTimeoutMs });
    const embedded = openEmbeddedStores(config, handlers, { writeLock });
    // This process owns the data dir, so leases left by a previous run are stale.
    const released = embedded.queue.releaseAllLeases();
    if (released > 0) logger.warn({ released }, 'released batches leased by a previous run');
    const close = async () => {
      await embedded.close();
      dataDirLock.release();
    };
    return { ...embedded, close, rateLimiter: new SlidingWindowRateLimiter(config.rateLimitPerMinute), writeLockBuffer: writeLock.buffer };
  } catch (thrown) {
    dataDirLock.release();
    throw thrown;
  }
}

/** Throws UnreachableServerError when MongoDB or RabbitMQ cannot be reached; leaves no client open. */
async function openDistributed(config: Config, settings: DistributedSettings, handlers: HandlerRegistry, logger: Logger): Promise<ModeParts> {
  const { mongo, queue, close } = await connectDistributed(config, settings, dedupeFieldOf(handlers), logger);
  try {
    // Every registered type's indexes at start-up: entities by account and id, and the de-dup key.
    await mongo.entityStore.prepare(Object.keys(handlers));
  } catch (thrown) {
    await close();
    throw thrown;
  }
  return {
    jobStore: mongo.jobStore,
    entityStore: withCrmLatency(config, mongo.entityStore),
    apiKeyStore: mongo.apiKeyStore,
    queue,
    // Shared by every API process: the limit holds for the account, not per process.
    rateLimiter: mongo.rateLimiter(config.rateLimitPerMinute),
    writeLockBuffer: null,
    close,
  };
}

/**
 * The MongoDB stores and the RabbitMQ queue of distributed mode, for the platform and the create
 * thread alike, and how to close both. Throws UnreachableServerError naming the server that cannot
 * be reached; leaves no client open then.
 */
async function connectDistributed(config: Config, settings: DistributedSettings, dedupeField: DedupeFieldOf, logger: Logger) {
  // Loaded only here: embedded mode (and its worker threads) never loads a network driver.
  const { openMongoStores } = await import('./adapters/mongodb/connection');
  const { openRabbitBatchQueue } = await import('./adapters/rabbitmq/rabbitBatchQueue');
  logger.info({ mongodb: redactUrl(settings.mongodbUrl), database: settings.mongodbDatabase }, 'connecting to MongoDB');
  const mongo = await openMongoStores(settings, dedupeField, logger).catch((thrown: unknown) => {
    throw new UnreachableServerError('MongoDB', 'MONGODB_URL', settings.mongodbUrl, thrown);
  });
  try {
    logger.info({ rabbitmq: redactUrl(settings.rabbitmqUrl), queue: settings.rabbitmqQueue }, 'connecting to RabbitMQ');
    const queue = await openRabbitBatchQueue(settings, { retry: queueRetryOf(config), logger }).catch((thrown: unknown) => {
      throw new UnreachableServerError('RabbitMQ', 'RABBITMQ_URL', settings.rabbitmqUrl, thrown);
    });
    const close = async () => {
      await queue.close();
      await mongo.close();
    };
    return { mongo, queue, close };
  } catch (thrown) {
    await mongo.close();
    throw thrown;
  }
}

/**
 * Only the entity store of the configured mode, for tools that run beside a live platform
 * (`npm run seed`, benchmarks): it touches no queue and releases no lease.
 */
export async function openEntityStore(config: Config, handlers: HandlerRegistry = builtInHandlers): Promise<{ entityStore: EntityStore; close(): Promise<void> }> {
  if (config.distributed) {
    const { openMongoStores } = await import('./adapters/mongodb/connection');
    const mongo = await openMongoStores(config.distributed, dedupeFieldOf(handlers));
    return { entityStore: mongo.entityStore, close: () => mongo.close() };
  }
  const db = openDatabase(path.join(config.dataDir, DATABASE_FILE));
  return {
    entityStore: new SqliteEntityStore(db, dedupeFieldOf(handlers)),
    close: async () => {
      db.close();
    },
  };
}

/**
 * Only the API key store of the configured mode, for `npm run keys` beside a live platform:
 * embedded, the data dir's SQLite file (created if new); distributed, MONGODB_URL's database.
 */
export async function openApiKeyStore(config: Config): Promise<{ apiKeyStore: ApiKeyStore; close(): Promise<void> }> {
  if (config.distributed) {
    const { openMongoStores } = await import('./adapters/mongodb/connection');
    const mongo = await openMongoStores(config.distributed, () => undefined);
    return { apiKeyStore: mongo.apiKeyStore, close: () => mongo.close() };
  }
  const db = openDatabase(path.join(config.dataDir, DATABASE_FILE));
  return {
    apiKeyStore: new SqliteApiKeyStore(db),
    close: async () => {
      db.close();
    },
  };
}

export function retryPolicyOf(config: Config): RetryPolicy {
  return { ...DEFAULT_RETRY_POLICY, ...config.retry };
}

function queueRetryOf(config: Config): QueueRetry {
  const policy = retryPolicyOf(config);
  return { backoffMs: (attempt) => retryDelayMs(attempt, policy) };
}

/** The entity store as processing sees it: with CRM_LATENCY_MS added to every call when it is set (and FAULT_CRASH_AT's write point, in tests). */
function withCrmLatency(config: Config, store: EntityStore): EntityStore {
  const crashing = withCrashOnWrite(store, config.faultCrashAt);
  return config.crmLatencyMs > 0 ? withSimulatedLatency(crashing, config.crmLatencyMs) : crashing;
}

function dedupeFieldOf(handlers: HandlerRegistry): DedupeFieldOf {
  return (type) => handlerFor(handlers, type)?.dedupeKey;
}
