import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../src/api/buildApp';
import { loadConfig } from '../../src/config';
import type { HandlerRegistry } from '../../src/handlers/index';
import { buildPlatform, type Platform } from '../../src/platform';
import type { ProcessingDeps } from '../../src/processing/processBatch';
import { startWorkers } from '../../src/processing/workers';
import type { Subscription } from '../../src/queue/batchQueue';
import { TEST_ADMIN_KEY, testApiKeys } from './apiHelpers';

export interface TestPlatform {
  platform: Platform;
  /** The app; a request without an Authorization header is sent with TEST_ADMIN_KEY (withTestKey). */
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
  const apiKeys = env.API_KEYS ? `${testApiKeys()},${env.API_KEYS}` : testApiKeys();
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', RETRY_BASE_DELAY_MS: '1', ...env, API_KEYS: apiKeys });
  const platform = await buildPlatform(config, { logger: pino({ level: 'silent' }), handlers: options.handlers });
  const app = withTestKey(await buildApp(platform));
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

/**
 * Makes `app.inject(options)` send the test admin key when the request names no Authorization
 * header, so tests about something else than tenants need no key of their own. A test about
 * authentication sets the header itself: an empty string sends none.
 */
export function withTestKey(app: FastifyInstance): FastifyInstance {
  const inject = app.inject.bind(app) as (options: InjectOptions) => ReturnType<FastifyInstance['inject']>;
  app.inject = ((options: InjectOptions) => {
    const headers = { ...(options.headers ?? {}) } as Record<string, string | string[] | undefined>;
    const named = Object.keys(headers).find((name) => name.toLowerCase() === 'authorization');
    if (named === undefined) headers.authorization = `Bearer ${TEST_ADMIN_KEY}`;
    else if (headers[named] === '') delete headers[named];
    return inject({ ...options, headers: headers as InjectOptions['headers'] });
  }) as FastifyInstance['inject'];
  return app;
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
