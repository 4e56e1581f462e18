import path from 'node:path';

/** Every setting, resolved and validated once. Nothing else reads process.env. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  batchSize: number;
  workerConcurrency: number;
  /** Worker threads that process batches; 0 processes them on the API's event loop. */
  workerThreads: number;
  maxEntityIds: number;
  bodyLimitBytes: number;
  rateLimitPerMinute: number;
  duplicateWindowSeconds: number;
  /** Seed a demo account into an empty data dir on start. */
  demoData: boolean;
  logLevel: string;
  retry: RetrySettings;
}

export interface RetrySettings {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR ?? './data'),
    batchSize: int(env, 'BATCH_SIZE', 1000, 1, 10_000),
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 2, 1, 64),
    workerThreads: int(env, 'WORKER_THREADS', 2, 0, 64),
    maxEntityIds: int(env, 'MAX_ENTITY_IDS', 1_000_000, 1, 10_000_000),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 64 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_REQUESTS_PER_MINUTE', 60, 1, 1_000_000),
    duplicateWindowSeconds: int(env, 'DUPLICATE_WINDOW_SECONDS', 600, 0, 30 * 24 * 3600),
    demoData: bool(env, 'DEMO_DATA', true),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    retry: {
      attempts: int(env, 'RETRY_ATTEMPTS', 5, 1, 100),
      baseDelayMs: int(env, 'RETRY_BASE_DELAY_MS', 200, 0, 60_000),
      maxDelayMs: int(env, 'RETRY_MAX_DELAY_MS', 10_000, 0, 600_000),
    },
  };
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
