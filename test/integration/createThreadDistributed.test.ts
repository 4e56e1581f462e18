import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { startCreateThread, type CreateThread } from '../../src/actions/createThread/createThread';
import { buildApp } from '../../src/api/buildApp';
import { loadConfig } from '../../src/config';
import { buildPlatform, type Platform } from '../../src/platform';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { createAction, createBody, expectApiError, testApiKeys } from '../support/apiHelpers';
import { withTestKey } from '../support/testPlatform';
import { waitFor } from '../support/waitFor';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';

/**
 * The create thread in distributed mode: its own MongoDB client and RabbitMQ connection store the
 * action and publish its batches; the API thread's limiter decides; the API thread reads the result.
 */
describeWithServices('the create thread in distributed mode', ['mongodb', 'rabbitmq'], () => {
  const database = uniqueName('create_thread');
  const queue = uniqueName('create_thread');
  let platform: Platform | undefined;
  let creates: CreateThread | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    await creates?.stop();
    await platform?.close();
    await dropDatabases(services.mongodbUrl!, [database]);
    await deleteQueues(services.rabbitmqUrl!, [queue]);
  });

  it('stores and publishes a create, replays it, refuses a duplicate, and answers a 400 with its field', async () => {
    const config = loadConfig({ ...distributedEnv(database, queue), LOG_LEVEL: 'silent', API_KEYS: testApiKeys() });
    platform = await buildPlatform(config, { logger: pino({ level: 'silent' }) });
    creates = await startCreateThread(platform, { sweepOutbox: false });
    app = withTestKey(await buildApp(platform, { creates }));

    const key = { 'idempotency-key': 'dist-1' };
    const created = await createAction(app, createBody({ entityIds: ['c1', 'c2', 'c1'] }), key);
    expect(created.statusCode, created.body).toBe(202);
    const id = (created.json() as { id: string }).id;
    const replay = await createAction(app, createBody({ entityIds: ['c1', 'c2', 'c1'] }), key);
    expect(replay.body).toBe(created.body);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(expectApiError(await createAction(app, createBody({ entityIds: ['c1', 'c2', 'c1'] })), 409, 'DUPLICATE_ACTION', null).actionId).toBe(id);
    expectApiError(await createAction(app, createBody({ entityIds: [''] })), 400, 'INVALID_ENTITY_IDS', 'entityIds[0]');

    const stored = await platform.jobStore.getAction(id);
    expect(stored).toMatchObject({ id, totalEntities: 3, status: 'PENDING' });
    expect(await platform.jobStore.listUnpublished(Date.now() + 1, 10)).toEqual([]);
    // The first occurrences and the repeat, each in a batch of its own: published to the work queue.
    await waitFor(async () => (await platform!.queue.depth()).ready === 2);
  });
});
