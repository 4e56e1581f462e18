import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/buildApp';
import { loadConfig } from '../../src/config';
import type { HandlerRegistry } from '../../src/handlers/index';
import { buildPlatform, type Platform } from '../../src/platform';
import type { ProcessingDeps } from '../../src/processing/processBatch';
import { startWorkers } from '../../src/processing/workers';
import type { Subscription } from '../../src/queue/batchQueue';

export interface TestPlatform {
  platform: Platform;
  app: FastifyInstance;
  dataDir: string;
  /** Starts the workers (not started by default, so a test can look at PENDING actions). */
  startWorkers(overrides?: Partial<ProcessingDeps>): Promise<Subscription>;
  close(): Promise<void>;
}

/** A whole embedded platform on its own SQLite file in a fresh temp dir. */
export async function makeTestPlatform(
  env: Record<string, string> = {},
  options: { handlers?: HandlerRegistry; workers?: boolean } = {},
): Promise<TestPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-test-'));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', RETRY_BASE_DELAY_MS: '1', ...env });
  const platform = await buildPlatform(config, { logger: pino({ level: 'silent' }), handlers: options.handlers });
  const app = await buildApp(platform);
  const subscriptions: Subscription[] = [];
  const start = async (overrides: Partial<ProcessingDeps> = {}) => {
    const sub = await startWorkers({ ...platform, ...overrides }, platform.queue, config.workerConcurrency, platform.metrics.processing);
    subscriptions.push(sub);
    return sub;
  };
  if (options.workers) await start();
  return {
    platform,
    app,
    dataDir,
    startWorkers: start,
    close: async () => {
      for (const sub of subscriptions) await sub.stop();
      await app.close();
      await platform.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls the action until it reaches a terminal status, or fails the test after timeoutMs. */
export async function waitForAction(platform: Platform, actionId: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const action = await platform.jobStore.getAction(actionId);
    if (action && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(action.status)) return action;
    if (Date.now() > deadline) throw new Error(`action ${actionId} still ${action?.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
