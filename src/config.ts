import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ConfiguredApiKey } from './auth/authenticator';
import { parseCrashSetting, type CrashSetting } from './processing/crashPoints';

/** Which parts of the platform a process runs. */
export type Role = 'api' | 'worker' | 'all';

/**
 * Every setting, resolved and validated once. Nothing else reads process.env.
 *
 * The mode follows from the URLs: with MONGODB_URL and RABBITMQ_URL the job and the entities live
 * in MongoDB and the batches go through RabbitMQ (distributed); with neither, everything is in one
 * SQLite file under DATA_DIR (embedded). One without the other is a configuration error.
 */
export interface Config {
  role: Role;
  port: number;
  host: string;
  dataDir: string;
  /** null in embedded mode. */
  distributed: DistributedSettings | null;
  /** Entities per queued batch (the spec's default: 1000). */
  batchSize: number;
  /** Batches processed at once by one process, across all its worker threads (RabbitMQ: the prefetch). */
  workerConcurrency: number;
  /** Embedded mode: worker threads those batches run in (at most workerConcurrency); 0 runs them on the API's event loop. */
  workerThreads: number;
  /** The nice value of the threads that work in the background (batch workers, the create thread): the API's event loop gets a core first (BACKGROUND_THREAD_NICE; 0 = no change). */
  backgroundThreadNice: number;
  maxEntityIds: number;
  /** Lengths and counts a create body may reach: see InputLimits. */
  inputLimits: InputLimits;
  bodyLimitBytes: number;
  /** How many large create bodies are taken at once: see LargeBodySettings. */
  largeBodies: LargeBodySettings;
  rateLimitPerMinute: number;
  duplicateWindowSeconds: number;
  /** Seed a demo account into an empty store on start. Default: on in embedded mode, off in distributed mode. */
  demoData: boolean;
  logLevel: string;
  retry: RetrySettings;
  outbox: OutboxSettings;
  retention: RetentionSettings;
  /** Added to every round trip handlers make to the entity store (ms): stands in for a remote CRM in benchmarks. */
  crmLatencyMs: number;
  /**
   * METRICS_PORT: also serve /health, /ready and /metrics on this port (same HOST); null (unset) =
   * not. The only way to probe and scrape `--role worker`, which has no API.
   */
  metricsPort: number | null;
  /** How processes start and stop: see LifecycleSettings. */
  lifecycle: LifecycleSettings;
  /**
   * API_KEYS="<key>:<accountId>,<key>:*": keys accepted besides the stored ones (`npm run keys`),
   * for tests and deployments that hand keys out of band; `*` is an admin key. Never logged.
   */
  apiKeys: ConfiguredApiKey[];
  /** Tests only (FAULT_CRASH_AT=<point>[:<n>]): SIGKILL this process at a named point; null in production. See src/processing/crashPoints.ts. */
  faultCrashAt: CrashSetting | null;
}

export interface DistributedSettings {
  mongodbUrl: string;
  /** Database name: the URL's path, else "bulk_actions". */
  mongodbDatabase: string;
  /** Operations per write command (insertMany, bulkWrite); MongoDB takes 100,000, FerretDB needs far fewer. */
  mongodbMaxWriteOps: number;
  rabbitmqUrl: string;
  /** The management API (http://user:pass@host:15672), for the unacked count in queue depth; null = not reported. */
  rabbitmqManagementUrl: string | null;
  /** Name of the work queue; the retry and dead-letter queues are named after it. */
  rabbitmqQueue: string;
}

export interface RetrySettings {
  /** Deliveries of a batch before its remaining entities fail and it is dead-lettered (MAX_BATCH_ATTEMPTS). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * A create body of `thresholdBytes` or more is large: its parse, hashing and planning take real
 * memory and CPU (a million IDs: ~20 MB of JSON, a few hundred MB while it is worked on). At most
 * `maxAtOnce` large bodies are received or worked on at once; the next one is answered 503
 * SERVER_BUSY with Retry-After before its body is read.
 */
export interface LargeBodySettings {
  /** CREATE_LARGE_BODY_BYTES (default 1 MiB). */
  thresholdBytes: number;
  /** CREATE_MAX_LARGE_BODIES (default 2). */
  maxAtOnce: number;
}

/**
 * What one create body may hold besides its number of IDs (MAX_ENTITY_IDS), checked by request
 * validation before anything is stored (400 with the field past a limit). Lengths count UTF-16
 * code units (JavaScript's string length).
 */
export interface InputLimits {
  /** MAX_ENTITY_ID_LENGTH (default 256). */
  maxEntityIdLength: number;
  /** MAX_FIELD_NAME_LENGTH (default 128). */
  maxFieldNameLength: number;
  /** MAX_UPDATE_FIELDS: fields one fieldsToUpdate may set (default 100). */
  maxUpdateFields: number;
  /** MAX_FIELD_STRING_LENGTH: a string value, or an item of a list value (default 10,000); a declared field's own maxLength is checked too. */
  maxFieldStringLength: number;
  /** MAX_FIELD_ARRAY_ITEMS: items in a list value (default 1,000); a declared field's own maxItems is checked too. */
  maxFieldArrayItems: number;
}

export interface OutboxSettings {
  /** How often the sweeper looks for actions whose batches were stored but not published (ms). */
  sweepIntervalMs: number;
  /** How old such an action must be before the sweeper publishes it: a live create is still publishing (ms). */
  graceMs: number;
}

export interface LifecycleSettings {
  /**
   * SIGTERM/SIGINT: how long in-flight batches may finish before they are handed back for
   * redelivery and the process exits 0 (ms, SHUTDOWN_TIMEOUT_MS). A second signal exits at once.
   */
  shutdownTimeoutMs: number;
  /**
   * Embedded mode: how long a process waits for the data dir's lock while another process holds it
   * (ms, DATA_DIR_LOCK_WAIT_MS). 0 (default): exit 1 at once; more: a rolling restart, where the new
   * process takes over once the old one has drained and exited.
   */
  dataDirLockWaitMs: number;
  /**
   * Embedded mode: the longest one thread waits for another thread's SQLite write (ms,
   * WRITE_LOCK_TIMEOUT_MS); past it the write fails (a batch is retried). Bounds the API's wait on
   * a writer that hangs or on a thread that died holding the lock before it is recovered.
   */
  writeLockTimeoutMs: number;
}

/**
 * The retention purge (src/actions/retention.ts): finished actions and everything of theirs are
 * deleted a slice at a time once they are older than `days`.
 */
export interface RetentionSettings {
  /** Actions that finished more than this many days ago are purged (RETENTION_DAYS); 0 keeps everything. */
  days: number;
  /** Pause between the end of one purge pass and the start of the next (ms, RETENTION_INTERVAL_MS). */
  intervalMs: number;
  /**
   * Rows one slice deletes at most (RETENTION_SLICE_ROWS). Embedded, a slice holds the SQLite write
   * lock, so this bounds how long any other write waits for it (about 2 ms per 1,000 rows measured).
   */
  sliceRows: number;
  /** Rest between two slices of a pass (ms, RETENTION_PAUSE_MS): other writers get the lock meanwhile. */
  pauseMs: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

/** Resolves every setting from the environment, and `--role` from the command line (argv without node and script). */
export function loadConfig(env: Env = process.env, argv: string[] = []): Config {
  const { values } = parseArgs({ args: argv, options: { role: { type: 'string' } }, strict: false, allowPositionals: true });
  const roleArg = typeof values.role === 'string' ? values.role : undefined;
  const distributed = distributedSettings(env);
  return {
    role: oneOf({ ...env, ROLE: roleArg ?? env.ROLE }, 'ROLE', 'all', ['api', 'worker', 'all']) as Role,
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    distributed,
    batchSize: int(env, 'BATCH_SIZE', 1000, 1, 10_000),
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 2, 1, 256),
    workerThreads: int(env, 'WORKER_THREADS', 2, 0, 64),
    backgroundThreadNice: int(env, 'BACKGROUND_THREAD_NICE', 10, 0, 19),
    maxEntityIds: int(env, 'MAX_ENTITY_IDS', 1_000_000, 1, 10_000_000),
    inputLimits: {
      maxEntityIdLength: int(env, 'MAX_ENTITY_ID_LENGTH', 256, 1, 1024),
      maxFieldNameLength: int(env, 'MAX_FIELD_NAME_LENGTH', 128, 1, 1024),
      maxUpdateFields: int(env, 'MAX_UPDATE_FIELDS', 100, 1, 10_000),
      maxFieldStringLength: int(env, 'MAX_FIELD_STRING_LENGTH', 10_000, 1, 1_000_000),
      maxFieldArrayItems: int(env, 'MAX_FIELD_ARRAY_ITEMS', 1_000, 1, 100_000),
    },
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    largeBodies: {
      thresholdBytes: int(env, 'CREATE_LARGE_BODY_BYTES', 1024 * 1024, 1, 1024 * 1024 * 1024),
      maxAtOnce: int(env, 'CREATE_MAX_LARGE_BODIES', 2, 1, 1000),
    },
    rateLimitPerMinute: int(env, 'RATE_LIMIT_REQUESTS_PER_MINUTE', 60, 1, 100_000),
    duplicateWindowSeconds: int(env, 'DUPLICATE_WINDOW_SECONDS', 600, 0, 30 * 24 * 3600),
    // A shared MongoDB is somebody's CRM: demo records go there only when asked for.
    demoData: bool(env, 'DEMO_DATA', distributed === null),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    retry: {
      maxAttempts: int(env, 'MAX_BATCH_ATTEMPTS', 5, 1, 100),
      baseDelayMs: int(env, 'RETRY_BASE_DELAY_MS', 200, 0, 60_000),
      maxDelayMs: int(env, 'RETRY_MAX_DELAY_MS', 10_000, 0, 600_000),
    },
    outbox: {
      sweepIntervalMs: int(env, 'OUTBOX_SWEEP_INTERVAL_MS', 5_000, 10, 600_000),
      graceMs: int(env, 'OUTBOX_GRACE_MS', 10_000, 0, 3_600_000),
    },
    retention: {
      days: int(env, 'RETENTION_DAYS', 30, 0, 36_500),
      intervalMs: int(env, 'RETENTION_INTERVAL_MS', 600_000, 1_000, 86_400_000),
      sliceRows: int(env, 'RETENTION_SLICE_ROWS', 1_000, 1, 100_000),
      pauseMs: int(env, 'RETENTION_PAUSE_MS', 10, 0, 60_000),
    },
    crmLatencyMs: int(env, 'CRM_LATENCY_MS', 0, 0, 60_000),
    metricsPort: env.METRICS_PORT ? int(env, 'METRICS_PORT', 0, 1, 65535) : null,
    lifecycle: {
      shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 3_600_000),
      dataDirLockWaitMs: int(env, 'DATA_DIR_LOCK_WAIT_MS', 0, 0, 3_600_000),
      writeLockTimeoutMs: int(env, 'WRITE_LOCK_TIMEOUT_MS', 10_000, 100, 600_000),
    },
    apiKeys: apiKeysSetting(env.API_KEYS),
    faultCrashAt: crashSetting(env),
  };
}

function distributedSettings(env: Env): DistributedSettings | null {
  const mongodbUrl = env.MONGODB_URL || undefined;
  const rabbitmqUrl = env.RABBITMQ_URL || undefined;
  if (!mongodbUrl && !rabbitmqUrl) return null;
  if (!mongodbUrl || !rabbitmqUrl) {
    throw new ConfigError('distributed mode needs both MONGODB_URL and RABBITMQ_URL; set both, or neither for embedded mode');
  }
  if (!/^mongodb(\+srv)?:\/\/[^/?#]+/.test(mongodbUrl)) {
    throw new ConfigError(`MONGODB_URL must be mongodb://host[:port][/database] or mongodb+srv://...; got "${redactUrl(mongodbUrl)}"`);
  }
  if (!/^amqps?:\/\/[^/?#]+/.test(rabbitmqUrl)) throw new ConfigError(`RABBITMQ_URL must be amqp://[user:pass@]host[:port]; got "${redactUrl(rabbitmqUrl)}"`);
  return {
    mongodbUrl,
    mongodbDatabase: env.MONGODB_DATABASE || databaseOf(mongodbUrl) || 'bulk_actions',
    mongodbMaxWriteOps: int(env, 'MONGODB_MAX_WRITE_OPS', 1000, 1, 100_000),
    rabbitmqUrl,
    rabbitmqManagementUrl: env.RABBITMQ_MANAGEMENT_URL || null,
    rabbitmqQueue: env.RABBITMQ_QUEUE || 'bulk-actions.batches',
  };
}

/** The URL with its password replaced by ***, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

/** The database named in a MongoDB URL's path (mongodb://host/dbname?options), if any. */
function databaseOf(url: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]*)/.exec(url);
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

/** Shortest key API_KEYS accepts: anything shorter is guessable (a generated key has 64 characters). */
const MIN_API_KEY_LENGTH = 20;
const API_KEY_CHARS = /^[\x21-\x7E]+$/;

/** Parses API_KEYS; the message names an entry by position only, so a key never reaches a log. */
export function apiKeysSetting(raw: string | undefined): ConfiguredApiKey[] {
  if (raw === undefined || raw.trim() === '') return [];
  const keys: ConfiguredApiKey[] = [];
  raw.split(',').forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const key = entry.slice(0, colon).trim();
    const accountId = entry.slice(colon + 1).trim();
    const problem =
      colon < 0 ? 'is not <key>:<accountId>'
      : key.length < MIN_API_KEY_LENGTH || !API_KEY_CHARS.test(key) ? `has a key shorter than ${MIN_API_KEY_LENGTH} printable characters (or with spaces)`
      : accountId.length === 0 || accountId.length > 128 ? 'has no account (or one over 128 characters); use * for an admin key'
      : keys.some((k) => k.key === key) ? 'repeats a key'
      : null;
    if (problem) throw new ConfigError(`API_KEYS entry ${i + 1} ${problem}`);
    keys.push({ key, accountId });
  });
  return keys;
}

function crashSetting(env: Env): CrashSetting | null {
  const raw = env.FAULT_CRASH_AT;
  if (raw === undefined || raw === '') return null;
  const setting = parseCrashSetting(raw);
  if (typeof setting === 'string') throw new ConfigError(setting);
  return setting;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}; got "${raw}"`);
  }
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false; got "${raw}"`);
}

function oneOf(env: Env, name: string, fallback: string, allowed: string[]): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!allowed.includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}; got "${raw}"`);
  return raw;
}
