import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { expectActionInvariants } from '../support/faultInvariants';
import { exitWithin, freePort, startServer, until as untilDone, type ServerProcess } from '../support/serverProcess';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';
import { authHeader } from '../support/apiHelpers';

/**
 * SIGTERM of a distributed worker process (issue 6, #8): `npm start -- --role worker` against
 * MongoDB (FerretDB in CI) and RabbitMQ, with a handler that hangs (every entity-store call 60 s
 * away). The first signal drains until SHUTDOWN_TIMEOUT_MS, closes the channel so the broker
 * requeues the batch, and exits 0; a second signal exits at once. Another worker then finishes.
 */
const ACCOUNT = 'acme';
const MARGIN_MS = 4000;

describeWithServices('SIGTERM (distributed): a worker process with a batch that hangs', ['mongodb', 'rabbitmq'], () => {
  const database = uniqueName('lifecycle');
  const queue = uniqueName('lifecycle');
  let base: string;
  let port: number;
  const processes: ServerProcess[] = [];
  const env = (extra: Record<string, string> = {}) => ({
    ...distributedEnv(database, queue),
    DEMO_DATA: 'false',
    LOG_LEVEL: 'info',
    BATCH_SIZE: '100',
    WORKER_CONCURRENCY: '2',
    RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
    PORT: String(port),
    HOST: '127.0.0.1',
    ...extra,
  });
  const everyOutput = () => processes.map((p, i) => `--- process ${i} (pid ${p.child.pid}):\n${p.output()}`).join('\n');
  const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000) => untilDone(what, fn, timeoutMs, everyOutput);

  const start = async (role: 'api' | 'worker', extra: Record<string, string> = {}) => {
    const server = startServer(env(extra), ['--role', role]);
    processes.push(server);
    await until(`the ${role} started`, async () => (server.output().includes('"msg":"started"') ? true : undefined));
    return server;
  };
  const hungWorker = (shutdownTimeoutMs: number) => start('worker', { CRM_LATENCY_MS: '60000', SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) });

  const contacts = Array.from({ length: 20 }, (_, i) => `c-${String(i + 1).padStart(7, '0')}`);
  async function createAction(title: string): Promise<string> {
    const res = await fetch(`${base}/api/bulk-actions/contact`, {
      method: 'POST',
      headers: { ...authHeader(), 'content-type': 'application/json' },
      body: JSON.stringify({ accountId: ACCOUNT, entityIds: contacts, fieldsToUpdate: { title } }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await until('the batch in flight', async () => {
      const stats = (await (await fetch(`${base}/api/bulk-actions/${id}/stats`, { headers: authHeader() })).json()) as { status: string };
      return stats.status === 'RUNNING' ? true : undefined;
    });
    return id;
  }

  beforeAll(async () => {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const args = ['--import', 'tsx', 'scripts/seed.ts', '--account', ACCOUNT, '--type', 'contact', '--count', String(contacts.length), '--prefix', 'c-'];
    await promisify(execFile)(process.execPath, args, { env: { ...process.env, ...env() } });
    await start('api');
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await dropDatabases(services.mongodbUrl!, [database]);
    await deleteQueues(services.rabbitmqUrl!, [queue]);
  }, 60_000);

  it('exits 0 by the deadline, and another worker gets the batch again and finishes it with exact counts', async () => {
    const worker = await hungWorker(1000);
    const id = await createAction('Drained');
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    const code = await exitWithin(worker, 1000 + MARGIN_MS);
    console.log(`SIGTERM to exit with a hung handler, SHUTDOWN_TIMEOUT_MS=1000 (distributed worker): ${Date.now() - signalledAt} ms`);
    expect(code).toBe(0);
    expect(worker.output()).toContain('stopped with batches still in flight');

    await start('worker');
    await expectActionInvariants({ base, actionId: id, submitted: contacts, boundMs: 60_000, describe: everyOutput, written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'Drained' } });
  });

  it('exits at once on a second SIGTERM (143), and what it held is delivered again', async () => {
    for (const p of processes.slice(1)) await p.kill('SIGTERM'); // only the hung worker below consumes
    const worker = await hungWorker(120_000);
    const id = await createAction('Interrupted');
    worker.child.kill('SIGTERM');
    await until('the drain started', async () => (worker.output().includes('stopping: no new requests or batches') ? true : undefined));
    expect(await exitWithin(worker, 500)).toBeNull(); // the first signal waits for the batch
    worker.child.kill('SIGTERM');
    expect(await exitWithin(worker, MARGIN_MS)).toBe(143);

    await start('worker');
    await expectActionInvariants({ base, actionId: id, submitted: contacts, boundMs: 60_000, describe: everyOutput, written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'Interrupted' } });
  });
});
