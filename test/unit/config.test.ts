import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactUrl } from '../../src/config';

const BOTH = { MONGODB_URL: 'mongodb://db.example:27017/crm?replicaSet=rs0', RABBITMQ_URL: 'amqp://u:p@mq.example:5672' };

describe('loadConfig: the mode', () => {
  it('is embedded without the URLs', () => {
    expect(loadConfig({}).distributed).toBeNull();
  });

  it('is distributed with both URLs, the database from the URL path', () => {
    expect(loadConfig(BOTH).distributed).toEqual({
      mongodbUrl: BOTH.MONGODB_URL,
      mongodbDatabase: 'crm',
      mongodbMaxWriteOps: 1000,
      rabbitmqUrl: BOTH.RABBITMQ_URL,
      rabbitmqManagementUrl: null,
      rabbitmqQueue: 'bulk-actions.batches',
    });
  });

  it('seeds demo data by default only in embedded mode', () => {
    expect(loadConfig({}).demoData).toBe(true);
    expect(loadConfig(BOTH).demoData).toBe(false);
    expect(loadConfig({ ...BOTH, DEMO_DATA: 'true' }).demoData).toBe(true);
  });

  it('takes MONGODB_DATABASE over the URL path, and bulk_actions when neither names one', () => {
    expect(loadConfig({ ...BOTH, MONGODB_DATABASE: 'other' }).distributed?.mongodbDatabase).toBe('other');
    expect(loadConfig({ ...BOTH, MONGODB_URL: 'mongodb://db.example:27017/' }).distributed?.mongodbDatabase).toBe('bulk_actions');
    expect(loadConfig({ ...BOTH, MONGODB_URL: 'mongodb://db.example:27017' }).distributed?.mongodbDatabase).toBe('bulk_actions');
  });

  it.each([
    ['only MONGODB_URL', { MONGODB_URL: BOTH.MONGODB_URL }, /needs both MONGODB_URL and RABBITMQ_URL/],
    ['only RABBITMQ_URL', { RABBITMQ_URL: BOTH.RABBITMQ_URL }, /needs both MONGODB_URL and RABBITMQ_URL/],
    ['a MongoDB URL of another scheme', { ...BOTH, MONGODB_URL: 'http://db.example' }, /MONGODB_URL must be mongodb:\/\/host/],
    ['a MongoDB URL without a host', { ...BOTH, MONGODB_URL: 'mongodb://' }, /MONGODB_URL must be mongodb:\/\/host/],
    ['an AMQP URL of another scheme', { ...BOTH, RABBITMQ_URL: 'redis://mq' }, /RABBITMQ_URL must be amqp:\/\//],
    ['too many write operations', { ...BOTH, MONGODB_MAX_WRITE_OPS: '100001' }, /MONGODB_MAX_WRITE_OPS must be an integer from 1 to 100000/],
  ])('refuses %s with a clear message', (_label, env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('loadConfig: secrets in messages', () => {
  it('never repeats a password from a URL it refuses', () => {
    expect(() => loadConfig({ ...BOTH, RABBITMQ_URL: 'http://user:s3cret@host/' })).toThrow('got "http://user:***@host/"');
    expect(() => loadConfig({ ...BOTH, MONGODB_URL: 'mongo://admin:hunter2@db/x' })).toThrow('got "mongo://admin:***@db/x"');
  });

  it.each([
    ['amqp://guest:guest@127.0.0.1:5672', 'amqp://guest:***@127.0.0.1:5672'],
    ['mongodb://u:p%40ss@h1,h2/db?replicaSet=rs0', 'mongodb://u:***@h1,h2/db?replicaSet=rs0'],
    ['mongodb://h/db', 'mongodb://h/db'],
    ['http://user@host/', 'http://user@host/'],
  ])('redacts %s as %s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });
});

describe('loadConfig: the role', () => {
  it('is all by default, and --role on the command line wins over ROLE', () => {
    expect(loadConfig({}).role).toBe('all');
    expect(loadConfig({ ROLE: 'worker' }).role).toBe('worker');
    expect(loadConfig({ ROLE: 'worker' }, ['--role', 'api']).role).toBe('api');
    expect(loadConfig({}, ['--role=worker']).role).toBe('worker');
  });

  it('refuses an unknown role', () => {
    expect(() => loadConfig({}, ['--role', 'scheduler'])).toThrow(/ROLE must be one of api, worker, all; got "scheduler"/);
  });
});

describe('loadConfig: METRICS_PORT', () => {
  it('is off unless set, and a port when set', () => {
    expect(loadConfig({}).metricsPort).toBeNull();
    expect(loadConfig({ METRICS_PORT: '' }).metricsPort).toBeNull();
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(() => loadConfig({ METRICS_PORT: '0' })).toThrow(/METRICS_PORT must be an integer from 1 to 65535/);
    expect(() => loadConfig({ METRICS_PORT: 'x' })).toThrow(ConfigError);
  });
});

describe('loadConfig: retries and the outbox', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.retry).toEqual({ maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 });
    expect(config.outbox).toEqual({ sweepIntervalMs: 5_000, graceMs: 10_000 });
    expect(config.workerConcurrency).toBe(2);
    expect(config.crmLatencyMs).toBe(0);
  });

  it('reads MAX_BATCH_ATTEMPTS', () => {
    expect(loadConfig({ MAX_BATCH_ATTEMPTS: '2' }).retry.maxAttempts).toBe(2);
    expect(() => loadConfig({ MAX_BATCH_ATTEMPTS: '0' })).toThrow(/MAX_BATCH_ATTEMPTS must be an integer from 1 to 100/);
  });
});

describe('loadConfig: starting and stopping', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({}).lifecycle).toEqual({ shutdownTimeoutMs: 10_000, dataDirLockWaitMs: 0, writeLockTimeoutMs: 10_000 });
  });

  it('reads SHUTDOWN_TIMEOUT_MS, DATA_DIR_LOCK_WAIT_MS and WRITE_LOCK_TIMEOUT_MS, and refuses what they cannot be', () => {
    expect(loadConfig({ SHUTDOWN_TIMEOUT_MS: '0', DATA_DIR_LOCK_WAIT_MS: '60000', WRITE_LOCK_TIMEOUT_MS: '500' }).lifecycle).toEqual({ shutdownTimeoutMs: 0, dataDirLockWaitMs: 60_000, writeLockTimeoutMs: 500 });
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT_MS: '-1' })).toThrow(/SHUTDOWN_TIMEOUT_MS must be an integer from 0 to 3600000/);
    expect(() => loadConfig({ DATA_DIR_LOCK_WAIT_MS: '1.5' })).toThrow(/DATA_DIR_LOCK_WAIT_MS must be an integer/);
    // A write lock with no patience at all would fail every write that meets another.
    expect(() => loadConfig({ WRITE_LOCK_TIMEOUT_MS: '0' })).toThrow(/WRITE_LOCK_TIMEOUT_MS must be an integer from 100 to 600000/);
  });
});
