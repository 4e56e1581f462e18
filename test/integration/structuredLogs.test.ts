import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/buildApp';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { buildPlatform, type Platform } from '../../src/platform';
import { startWorkers } from '../../src/processing/workers';
import type { Subscription } from '../../src/queue/batchQueue';
import type { BatchMessage } from '../../src/types/entities';
import { TEST_ADMIN_KEY, testApiKeys } from '../support/apiHelpers';
import { waitForAction, withTestKey } from '../support/testPlatform';
import { waitFor } from '../support/waitFor';

/**
 * The platform's logs, read back from a pino destination stream: one format for the app's and
 * Fastify's lines, and the action id (and batch number) on every line about an action (a batch).
 */

type Line = Record<string, unknown> & { level: number; time: string; msg: string };

let platform: Platform | undefined;
let app: FastifyInstance | undefined;
let workers: Subscription | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await workers?.stop();
  await app?.close();
  await platform?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  platform = app = workers = dataDir = undefined;
});

/** An embedded platform and app logging at debug into `lines`, like src/server.ts wires them. */
async function start(lines: Line[]) {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-logs-'));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'debug', BATCH_SIZE: '2', RETRY_BASE_DELAY_MS: '1', API_KEYS: testApiKeys() });
  const logger = createLogger(config.logLevel, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  platform = await buildPlatform(config, { logger });
  app = withTestKey(await buildApp(platform, { logger }));
  const entities = ['c1', 'c2', 'c3'].map((id) => ({ id, data: { status: 'lead' } }));
  await platform.entityStore.insertMany('contact', 'acme', entities, Date.now());
  return { platform, app, logger };
}

describe('structured logs', () => {
  it('carries actionId and batchNo on every worker line about a batch, and actionId on every request line of /api/bulk-actions/:id routes', async () => {
    const lines: Line[] = [];
    const { platform, app } = await start(lines);
    let failedOnce = false;
    workers = await startWorkers(
      {
        ...platform,
        faults: {
          afterOutcomesRecorded: (batch: BatchMessage) => {
            if (batch.batchNo === 0 && !failedOnce) {
              failedOnce = true;
              throw new Error('worker died late');
            }
          },
        },
      },
      platform.queue,
      1,
    );
    const sinceCreated = lines.length;
    const created = await app.inject({ method: 'POST', url: '/api/bulk-actions/contact', payload: { accountId: 'acme', entityIds: ['c1', 'c2', 'c3', 'nope'], fieldsToUpdate: { status: 'customer' } } });
    expect(created.statusCode).toBe(202);
    const actionId = (created.json() as { id: string }).id;
    await waitForAction(platform, actionId);
    // A message of a batch the action never planned: dropped or dead-lettered, and logged about its batch.
    await platform.queue.publish([{ actionId, batchNo: 7, accountId: 'acme', entityType: 'contact', entityIds: ['c9'], seqs: [9], fieldsToUpdate: { status: 'x' } }]);
    await waitFor(() => lines.some((l) => l.batchNo === 7), 5_000, 'a line about batch 7');
    for (const url of [`/api/bulk-actions/${actionId}`, `/api/bulk-actions/${actionId}/stats`, `/api/bulk-actions/${actionId}/logs?limit=2`]) {
      expect((await app.inject({ method: 'GET', url })).statusCode).toBe(200);
    }
    expect((await app.inject({ method: 'GET', url: '/api/bulk-actions/no%20such' })).statusCode).toBe(404);

    // The worker's lines (no reqId): the hand-back of batch 0, its redelivery, batch 7, the finish.
    const workerLines = lines.slice(sinceCreated).filter((l) => l.reqId === undefined);
    expect(workerLines.map((l) => l.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/^batch handed back/), 'bulk action finished']));
    for (const line of workerLines) {
      expect(line.actionId, line.msg).toBe(actionId);
      if (line.msg !== 'bulk action finished') expect(typeof line.batchNo, line.msg).toBe('number');
    }

    // Fastify's request lines: both of each request to /api/bulk-actions/:id[/...] name the action, decoded.
    const reqIdsOf = (predicate: (url: string) => boolean) =>
      new Set(lines.filter((l) => l.msg === 'incoming request' && predicate((l.req as { url: string }).url)).map((l) => l.reqId));
    const actionRequests = reqIdsOf((url) => url.startsWith(`/api/bulk-actions/${actionId}`));
    expect(actionRequests.size).toBe(3);
    const requestLines = lines.filter((l) => actionRequests.has(l.reqId));
    expect(requestLines.map((l) => l.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']));
    for (const line of requestLines) expect(line.actionId).toBe(actionId);
    for (const line of lines.filter((l) => reqIdsOf((url) => url.includes('no%20such')).has(l.reqId))) expect(line.actionId).toBe('no such');
    // POST /api/bulk-actions/:entityType names a type, not an action.
    for (const line of lines.filter((l) => reqIdsOf((url) => url === '/api/bulk-actions/contact').has(l.reqId))) expect(line).not.toHaveProperty('actionId');

    // One format for the platform's lines and Fastify's alike.
    for (const line of lines) {
      expect(typeof line.level).toBe('number');
      expect(new Date(line.time).toISOString()).toBe(line.time);
      expect(typeof line.msg).toBe('string');
      expect(line).not.toHaveProperty('pid');
      expect(line).not.toHaveProperty('hostname');
    }
  });

  it('never logs an API key: not the Authorization header, not a key sent in the query string (refused, its value masked)', async () => {
    const lines: Line[] = [];
    const { app } = await start(lines);
    expect((await app.inject({ method: 'GET', url: '/api/bulk-actions' })).statusCode).toBe(200);
    const inQuery = await app.inject({ method: 'GET', url: `/api/bulk-actions?accountId=acme&api_key=${TEST_ADMIN_KEY}`, headers: { authorization: '' } });
    expect(inQuery.statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/api/bulk-actions?Token=${TEST_ADMIN_KEY}` })).statusCode).toBe(400);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).toContain('incoming request');
    expect(text).toContain('api_key=***');
    expect(text).toContain('Token=***');
    expect(text).not.toContain(TEST_ADMIN_KEY);
  });

  it('refuses and masks a key under an encoded or unconventional name, and never echoes one in a 404', async () => {
    const lines: Line[] = [];
    const { app } = await start(lines);
    const issued = 'bap_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'; // the shape of every key we issue
    for (const query of [`api%5Fkey=${TEST_ADMIN_KEY}`, `%6Bey=${TEST_ADMIN_KEY}`, `auth=${issued}`, `authorization=Bearer%20${issued}`, `x=1&${issued}`]) {
      const res = await app.inject({ method: 'GET', url: `/api/bulk-actions?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'API_KEY_IN_QUERY' } });
    }
    const missing = await app.inject({ method: 'GET', url: `/api/bulk-action?api_key=${issued}` });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).not.toContain(issued);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(text).toContain('incoming request');
    expect(text).not.toContain(TEST_ADMIN_KEY);
    expect(text).not.toContain(issued);
  });

  it('masks an Authorization header in any line that logs one (a request logger with headers, a handler logging them)', () => {
    const lines: Line[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
    logger.info({ req: { method: 'GET', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } } }, 'a request');
    logger.info({ headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } }, 'some headers');
    expect(lines.map((l) => JSON.stringify(l)).join('\n')).not.toContain(TEST_ADMIN_KEY);
    expect(lines[0]).toMatchObject({ req: { headers: { authorization: '***' } } });
  });
});
