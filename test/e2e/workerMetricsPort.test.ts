import { afterAll, expect, it } from 'vitest';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { parsePrometheusText, valueOf } from '../support/prometheusText';
import { freePort, startServer, until, type ServerProcess } from '../support/serverProcess';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';
import { authHeader } from '../support/apiHelpers';

/**
 * `--role worker` has no API; with METRICS_PORT it serves /health, /ready and /metrics there, so it
 * can be probed and scraped like the API. Its /metrics counts what this process processed.
 */
describeWithServices('a worker process with METRICS_PORT', ['mongodb', 'rabbitmq'], () => {
  const database = uniqueName('wmetrics');
  const queue = uniqueName('wmetrics');
  const processes: ServerProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await dropDatabases(services.mongodbUrl!, [database]);
    await deleteQueues(services.rabbitmqUrl!, [queue]);
  });

  it('answers /health, /ready and /metrics on that port, with the outcomes it recorded', async () => {
    const [apiPort, metricsPort] = [await freePort(), await freePort()];
    const env = {
      ...distributedEnv(database, queue), DEMO_DATA: 'false', LOG_LEVEL: 'warn', HOST: '127.0.0.1', BATCH_SIZE: '5',
    };
    const api = startServer({ ...env, PORT: String(apiPort) }, ['--role', 'api']);
    const worker = startServer({ ...env, METRICS_PORT: String(metricsPort) }, ['--role', 'worker']);
    processes.push(api, worker);
    const output = () => `--- api:\n${api.output()}\n--- worker:\n${worker.output()}`;
    const ops = `http://127.0.0.1:${metricsPort}`;
    await until('the worker answering /health', async () => ((await fetch(`${ops}/health`)).ok ? true : undefined), 60_000, output);
    await until('the API answering /health', async () => ((await fetch(`http://127.0.0.1:${apiPort}/health`)).ok ? true : undefined), 60_000, output);
    expect(await (await fetch(`${ops}/ready`)).json()).toEqual({ status: 'ready', checks: { store: { ok: true }, queue: { ok: true } } });
    expect((await fetch(`${ops}/api/bulk-actions`)).status).toBe(404); // probes and metrics only

    // Twelve IDs that do not exist: three batches, every entity FAILED NOT_FOUND, all by this worker.
    const entityIds = Array.from({ length: 12 }, (_, i) => `missing-${i}`);
    const created = await fetch(`http://127.0.0.1:${apiPort}/api/bulk-actions`, {
      method: 'POST', headers: { ...authHeader(), 'content-type': 'application/json' },
      body: JSON.stringify({ accountId: 'acme', entityType: 'contact', entityIds, fieldsToUpdate: { status: 'customer' } }),
    });
    expect(created.status).toBe(202);
    const metrics = await until('12 outcomes on the worker\'s /metrics', async () => {
      const samples = parsePrometheusText(await (await fetch(`${ops}/metrics`)).text());
      return valueOf(samples, 'bulk_entities_processed_total', { entity_type: 'contact', status: 'FAILED', code: 'NOT_FOUND' }) === 12 ? samples : undefined;
    }, 60_000, output);
    expect(valueOf(metrics, 'bulk_batch_processing_seconds_count', { entity_type: 'contact', result: 'ack' })).toBe(3);
    expect(valueOf(metrics, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    // The platform-wide gauges are the API's to report, once, not every worker's.
    expect(metrics.some((s) => s.name === 'bulk_actions' || s.name === 'bulk_queue_batches')).toBe(false);
  });
});
