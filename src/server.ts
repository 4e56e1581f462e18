import { buildApp, buildOperationsApp } from './api/buildApp';
import { startCreateThread } from './actions/createThread/createThread';
import { startOutboxSweeper } from './actions/outbox';
import { retentionRunsInMainThread, startRetention } from './actions/retention';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './observability/logger';
import { buildPlatform, UnreachableServerError } from './platform';
import { startWorkerPool } from './processing/workerPool';
import { startWorkers } from './processing/workers';
import type { Subscription } from './queue/batchQueue';
import { seedDemoAccount, printNextSteps } from './seeding/demo';

/**
 * `npm start [-- --role api|worker|all]`. Embedded mode (no MONGODB_URL/RABBITMQ_URL) runs the
 * API and worker threads in one process on one SQLite file. Distributed mode runs what the role
 * says: `api` answers HTTP, `worker` processes batches, `all` both; any number of each share the
 * load. Every role runs the outbox sweeper. Drains on SIGTERM.
 */
async function main(): Promise<void> {
  const config = loadConfig(undefined, process.argv.slice(2));
  if (!config.distributed && config.role !== 'all') {
    throw new ConfigError(`ROLE=${config.role} needs distributed mode (MONGODB_URL and RABBITMQ_URL): an embedded data dir has one process`);
  }
  const logger = createLogger(config.logLevel);
  const platform = await buildPlatform(config, { logger });
  const serveApi = config.role !== 'worker';
  const demo = serveApi && config.demoData ? await seedDemoAccount(platform) : null;

  // Creates (and the outbox sweeper) run in a thread of their own: parsing a million IDs, planning
  // them and waiting for SQLite's write lock never hold up the event loop that answers requests.
  const creates = serveApi ? await startCreateThread(platform, { sweepOutbox: true }) : null;
  const app = serveApi ? await buildApp(platform, { logger, creates: creates ?? undefined }) : null;
  // Listen first: a second process on the same port fails here, before it touches any batch.
  if (app) await app.listen({ port: config.port, host: config.host });
  // METRICS_PORT: probes and the scrape on a port of their own (a worker role has no other).
  const operations = config.metricsPort === null ? null : await buildOperationsApp(platform, { logger });
  if (operations) await operations.listen({ port: config.metricsPort!, host: config.host });
  let workers: Subscription | null = null;
  if (config.role !== 'api') {
    workers =
      !config.distributed && config.workerThreads > 0
        ? await startWorkerPool(config, logger, platform.writeLockBuffer!, platform.metrics)
        : await startWorkers(platform, platform.queue, config.workerConcurrency, platform.metrics.processing);
  }
  const sweeper = creates ? null : startOutboxSweeper(platform, config.outbox);
  // RETENTION_DAYS: here in distributed worker roles; embedded, in worker thread 0 (see retention.ts).
  const retention = retentionRunsInMainThread(config) ? startRetention(platform, config.retention) : null;
  if (app) printNextSteps(config, demo);
  logger.info({ role: config.role, mode: config.distributed ? 'distributed' : 'embedded' }, 'started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new requests, draining batches in flight');
    await app?.close();
    await operations?.close();
    await workers?.stop();
    await Promise.all([sweeper?.stop(), creates?.stop()]);
    await retention?.stop();
    await platform.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(`Configuration error: ${error.message}`);
  else if (error instanceof UnreachableServerError) console.error(`Start-up error: ${error.message}`);
  else console.error(error);
  process.exit(1);
});
