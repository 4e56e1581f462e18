import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { buildApp } from '../../src/api/buildApp';
import { loadConfig } from '../../src/config';
import { buildPlatform, type Platform } from '../../src/platform';
import { getJson } from '../support/apiHelpers';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';
import { hostAndPort, TcpProxy } from '../support/tcpProxy';
import { waitFor } from '../support/waitFor';

/**
 * /ready against real MongoDB (FerretDB) and RabbitMQ, each reached through a proxy the test cuts:
 * 503 naming the part that is down while it is, 200 again once it is back, with no restart.
 * /health stays 200 throughout. (Embedded mode, a closed SQLite file: test/api/routes.test.ts.)
 */
describeWithServices('GET /ready in distributed mode', ['mongodb', 'rabbitmq'], () => {
  const database = uniqueName('ready');
  const queue = uniqueName('ready');
  const mongo = new TcpProxy(hostAndPort(services.mongodbUrl!, 27017));
  const rabbit = new TcpProxy(hostAndPort(services.rabbitmqUrl!, 5672));
  let platform: Platform | undefined;
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    await platform?.close();
    await Promise.all([mongo.cut(), rabbit.cut()]);
    await dropDatabases(services.mongodbUrl!, [database]);
    await deleteQueues(services.rabbitmqUrl!, [queue]);
  });

  const ready = () => getJson(app!, '/ready');
  const checksOf = async () => (await ready()).body.checks as Record<'store' | 'queue', { ok: boolean; error?: string }>;

  it('answers 503 naming RabbitMQ, then MongoDB, while each is cut off, and 200 again once each is back', async () => {
    await Promise.all([mongo.open(), rabbit.open()]);
    const rabbitUrl = new URL(services.rabbitmqUrl!);
    rabbitUrl.host = `127.0.0.1:${rabbit.port}`;
    const config = loadConfig(
      distributedEnv(database, queue, {
        mongodbUrl: `mongodb://127.0.0.1:${mongo.port}/?directConnection=true&serverSelectionTimeoutMS=5000`,
        rabbitmqUrl: rabbitUrl.toString(),
      }),
    );
    platform = await buildPlatform(config, { logger: pino({ level: 'silent' }) });
    app = await buildApp(platform);
    expect(await ready()).toEqual({ status: 200, body: { status: 'ready', checks: { store: { ok: true }, queue: { ok: true } } } });

    await rabbit.cut();
    const down = await ready();
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('unavailable');
    expect(await checksOf()).toEqual({ store: { ok: true }, queue: { ok: false, error: expect.any(String) } });
    expect((await getJson(app, '/health')).status).toBe(200);
    await rabbit.open();
    await waitFor(async () => (await ready()).status === 200, 20_000, '/ready 200 after RabbitMQ is back');

    await mongo.cut();
    expect(await checksOf()).toEqual({ store: { ok: false, error: expect.any(String) }, queue: { ok: true } });
    expect((await ready()).status).toBe(503);
    await mongo.open();
    await waitFor(async () => (await ready()).status === 200, 20_000, '/ready 200 after MongoDB is back');
  });
});
