import os from 'node:os';
import { buildApp, buildOperationsApp } from './api/buildApp';
import { DataDirLockedError } from './adapters/sqlite/dataDirLock';
import { startCreateThread } from './actions/createThread/createThread';
import { startOutboxSweeper } from './actions/outbox';
import { retentionRunsInMainThread, startRetention } from './actions/retention';
import { ConfigError, loadConfig } from './config';
import { toError } from './errors';
import { withinMs } from './observability/deadline';
import { createLogger, type Logger } from './observability/logger';
import { buildPlatform, UnreachableServerError } from './platform';
import { startWorkerPool } from './processing/workerPool';
import { startWorkers } from './processing/workers';
import type { Subscription } from './queue/batchQueue';
import { seedDemoAccount, printNextSteps } from './seeding/demo';

/**
 * `npm start [-- --role api|worker|all]`. Embedded mode (no MONGODB_URL/RABBITMQ_URL) runs the
 * API and worker threads in one process on one SQLite file. Distributed mode runs what the role
 * says: `api` answers HTTP, `worker` processes batches, `all` both; any number of each share the
 * load. Every role runs the outbox sweeper.
 *
 * Start-up, embedded: the data dir's lock first (a second process exits 1 naming the holder's
 * pid, or waits DATA_DIR_LOCK_WAIT_MS for it: a rolling restart), then listen, then the workers.
 * A signal before start-up is done exits at once (128 + its number).
 * SIGTERM or SIGINT: stop taking requests and batches; batches in flight have SHUTDOWN_TIMEOUT_MS
 * to finish, then are handed back for redelivery; exit 0. A second signal exits at once with
 * 128 + the signal's number (SIGINT 130, SIGTERM 143); what was in flight is delivered again
 * (embedded: the next process releases the leases at start-up; RabbitMQ: the broker requeues).
 * Exit 1: a start-up error, or closing that hung past the deadline plus CLOSE_GRACE_MS.
 */
async function main(): Promise<void> {
  const config = loadConfig(undefined, process.argv.slice(2));
  if (!config.distributed && config.role !== 'all') {
    throw new ConfigError(`ROLE=${config.role} needs distributed mode (MONGODB_URL and RABBITMQ_URL): an embedded data dir has one process`);
  }
  const logger = createLogger(config.logLevel);
  // Until start-up is done (the 'started' line) a signal ends the process at once: waiting for the
  // data dir or connecting, nothing is held; a batch already taken is delivered again, as after a crash.
  let stop: ((signal: NodeJS.Signals) => Promise<void>) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) return void stop(signal);
    logger.warn({ signal }, 'signal during start-up: exiting now');
    process.exit(exitCodeOf(signal));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
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
  stop = async (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now, without draining; unsettled batches are delivered again');
      process.exit(exitCodeOf(signal));
    }
    stopping = true;
    const timeoutMs = config.lifecycle.shutdownTimeoutMs;
    logger.info({ signal, timeoutMs }, 'stopping: no new requests or batches; batches in flight have until the deadline, then go back to the queue');
    // The last resort if closing itself hangs (a store that never answers): exit anyway, loudly.
    setTimeout(() => {
      logger.error({ timeoutMs, graceMs: CLOSE_GRACE_MS }, 'shutdown did not finish by the deadline and its grace; exiting');
      process.exit(1);
    }, timeoutMs + CLOSE_GRACE_MS).unref();
    const deadline = Date.now() + timeoutMs;
    // Requests still in flight at the deadline (a body still uploading, a create waiting on a
    // broker that is down) are abandoned: a create stores its action atomically or not at all.
    await Promise.all([closeBy(app, deadline, logger), operations?.close(), workers?.stop({ timeoutMs })]);
    await Promise.all([sweeper?.stop(), creates?.stop({ timeoutMs: Math.max(0, deadline - Date.now()) })]);
    await retention?.stop();
    await platform.close();
    logger.info({ signal }, 'stopped');
    process.exit(0);
  };
}

/** Closes the HTTP server, waiting for requests in flight until `deadline` (epoch ms) at most. */
async function closeBy(app: { close(): Promise<unknown> } | null, deadline: number, logger: Logger): Promise<void> {
  if (!app) return;
  await withinMs(app.close(), Math.max(0, deadline - Date.now()), 'closing the HTTP server').catch((error: unknown) => {
    logger.warn({ err: toError(error) }, 'HTTP requests still in flight at the shutdown deadline: abandoning them');
  });
}

/** After SHUTDOWN_TIMEOUT_MS, how long closing the stores and the queue may take before the process exits 1 anyway (ms). */
const CLOSE_GRACE_MS = 5000;

/** The shell's convention for a process ended by a signal: 128 + its number (SIGINT 130, SIGTERM 143). */
function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + os.constants.signals[signal];
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(`Configuration error: ${error.message}`);
  else if (error instanceof UnreachableServerError || error instanceof DataDirLockedError) console.error(`Start-up error: ${error.message}`);
  else if (isAddressInUse(error)) console.error(`Start-up error: ${error.message}: another process listens there (set PORT, or stop it)`);
  else console.error(error);
  process.exit(1);
});

function isAddressInUse(error: unknown): error is Error {
  return error instanceof Error && (error as { code?: unknown }).code === 'EADDRINUSE';
}
