import { buildApp } from './api/buildApp';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './observability/logger';
import { buildPlatform } from './platform';
import { startWorkerPool } from './processing/workerPool';
import { startWorkers } from './processing/workers';
import { seedDemoAccount, printNextSteps } from './seeding/demo';

/** Embedded mode: API and workers in one process on one SQLite file. Listens, and drains on SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const platform = buildPlatform(config, { logger });
  const demo = config.demoData ? await seedDemoAccount(platform) : null;

  const app = await buildApp(platform, { logger: true });
  const workers =
    config.workerThreads > 0
      ? await startWorkerPool(config, logger, platform.writeLockBuffer)
      : await startWorkers(platform, platform.queue, config.workerConcurrency);
  await app.listen({ port: config.port, host: config.host });
  printNextSteps(config, demo);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new requests, draining batches in flight');
    await app.close();
    await workers.stop();
    await platform.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(`Configuration error: ${error.message}`);
  else console.error(error);
  process.exit(1);
});
