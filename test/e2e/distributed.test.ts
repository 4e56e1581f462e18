import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { findEntities } from '../support/realServers';
import { freePort, startServer, until as untilDone, type ServerProcess } from '../support/serverProcess';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';
import { authHeader } from '../support/apiHelpers';

/**
 * Distributed mode as operators run it: one API process and two worker processes, started with
 * `npm start -- --role ...`, against a MongoDB-wire server (FerretDB in CI) and RabbitMQ. Entities
 * are seeded with `npm run seed`, the action is driven over HTTP, and processes are SIGKILLed.
 * Sized for FerretDB, whose updates are slow: a few thousand entities.
 */
const CONTACTS = 1_500;
const OTHER_CONTACTS = 20;
const ACCOUNT = 'acme';
const OTHER = 'globex';

describeWithServices('distributed mode: an API process and two worker processes', ['mongodb', 'rabbitmq'], () => {
  const database = uniqueName('e2e');
  const queue = uniqueName('e2e');
  let base: string;
  let port: number;
  let api: ServerProcess;
  const workers: ServerProcess[] = [];
  const env = () => ({
    ...distributedEnv(database, queue),
    RABBITMQ_MANAGEMENT_URL: services.rabbitmqManagementUrl ?? '',
    DEMO_DATA: 'false',
    LOG_LEVEL: 'warn',
    BATCH_SIZE: '100',
    WORKER_CONCURRENCY: '2',
    RETRY_BASE_DELAY_MS: '50',
    RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
    OUTBOX_GRACE_MS: '2000',
    // Every entity-store call waits 100 ms (a remote CRM): an action stays part-way long enough
    // to be watched and killed there, however fast the database is.
    CRM_LATENCY_MS: '100',
    OUTBOX_SWEEP_INTERVAL_MS: '1000',
    PORT: String(port),
    HOST: '127.0.0.1',
  });
  const everyOutput = () => [api, ...workers].map((p, i) => `--- process ${i}:\n${p?.output() ?? ''}`).join('\n');
  const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000) => untilDone(what, fn, timeoutMs, everyOutput);

  const startApi = async () => {
    api = startServer(env(), ['--role', 'api']);
    await until('the API answering /health', async () => ((await fetch(`${base}/health`)).ok ? true : undefined));
  };
  const startWorker = () => workers.push(startServer(env(), ['--role', 'worker']));

  async function seed(account: string, count: number, prefix: string, duplicateEmailRate: string): Promise<void> {
    const args = ['--import', 'tsx', 'scripts/seed.ts', '--account', account, '--type', 'contact', '--count', String(count), '--prefix', prefix, '--duplicate-email-rate', duplicateEmailRate];
    await promisify(execFile)(process.execPath, args, { env: { ...process.env, ...env() } });
  }

  beforeAll(async () => {
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    await seed(ACCOUNT, CONTACTS, 'c-', '0.05');
    await seed(OTHER, OTHER_CONTACTS, 'o-', '0');
    await startApi();
    startWorker();
    startWorker();
  }, 180_000);

  afterAll(async () => {
    await Promise.all([api, ...workers].map((p) => p?.kill('SIGKILL')));
    await dropDatabases(services.mongodbUrl!, [database]);
    await deleteQueues(services.rabbitmqUrl!, [queue]);
  }, 60_000);

  const contactIds = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `c-${String(from + i + 1).padStart(7, '0')}`);

  /** Creates an action over HTTP; returns its id. */
  async function create(entityIds: string[], fieldsToUpdate: Record<string, string>): Promise<string> {
    const res = await fetch(`${base}/api/bulk-actions/contact`, {
      method: 'POST',
      headers: { ...authHeader(), 'content-type': 'application/json' },
      body: JSON.stringify({ accountId: ACCOUNT, entityIds, fieldsToUpdate }),
    });
    expect(res.status, await res.clone().text()).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  interface Stats { status: string; total: number; processed: number; succeeded: number; failed: number; skipped: number; errorsByCode: Record<string, number> }
  const stats = async (id: string) => (await (await fetch(`${base}/api/bulk-actions/${id}/stats`, { headers: authHeader() })).json()) as Stats;
  const finished = (id: string) => until(`action ${id} finishing`, async () => {
    const s = await stats(id);
    return ['COMPLETED', 'FAILED'].includes(s.status) ? s : undefined;
  }, 300_000);

  /** Every log row, paged; then: one row per submitted ID, the counters equal the rows, every SUCCESS really written. */
  async function expectExact(id: string, submitted: string[], title: string): Promise<Stats> {
    const s = await finished(id);
    const rows: { entityId: string; status: string; code: string | null }[] = [];
    for (let page = 1; rows.length < s.total; page++) {
      const body = (await (await fetch(`${base}/api/bulk-actions/${id}/logs?page=${page}&limit=1000`, { headers: authHeader() })).json()) as { items: typeof rows };
      if (body.items.length === 0) break;
      rows.push(...body.items);
    }
    expect(rows.map((r) => r.entityId)).toEqual(submitted);
    const count = (status: string) => rows.filter((r) => r.status === status).length;
    expect({ processed: s.processed, succeeded: s.succeeded, failed: s.failed, skipped: s.skipped }).toEqual({
      processed: submitted.length, succeeded: count('SUCCESS'), failed: count('FAILED'), skipped: count('SKIPPED'),
    });
    const codes: Record<string, number> = {};
    for (const r of rows) if (r.code) codes[r.code] = (codes[r.code] ?? 0) + 1;
    expect(s.errorsByCode).toEqual(codes);
    const written = rows.filter((row) => row.status === 'SUCCESS').map((r) => r.entityId);
    const stored = await findEntities(services.mongodbUrl!, database, 'contact', written);
    expect(written.filter((entityId) => stored.get(entityId)?.data.title !== title)).toEqual([]);
    return s;
  }

  async function expectOtherAccountUntouched(): Promise<void> {
    const ids = Array.from({ length: OTHER_CONTACTS }, (_, i) => `o-${String(i + 1).padStart(7, '0')}`);
    const stored = await findEntities(services.mongodbUrl!, database, 'contact', ids);
    expect(stored.size).toBe(OTHER_CONTACTS);
    for (const [id, entity] of stored) {
      expect(entity.accountId, id).toBe(OTHER);
      expect(entity.updatedAt, id).toBe(entity.createdAt);
    }
  }

  it('completes an action with repeats, missing IDs, shared emails and another account\'s IDs, exactly', async () => {
    const ids = contactIds(0, 600);
    const submitted = [...ids, ids[0]!, ids[1]!, 'c-missing-1', 'o-0000001', 'o-0000002', ids[0]!, 'c-missing-2'];
    const s = await expectExact(await create(submitted, { title: 'first pass' }), submitted, 'first pass');
    expect(s.errorsByCode.DUPLICATE_ID).toBe(3);
    expect(s.errorsByCode.NOT_FOUND).toBe(4);
    expect(s.errorsByCode.DUPLICATE_EMAIL).toBeGreaterThan(0);
    expect(s.status).toBe('COMPLETED');
    await expectOtherAccountUntouched();
  });

  it('finishes exactly when a worker is SIGKILLed mid-run: the other worker takes over', async () => {
    const ids = contactIds(600, CONTACTS);
    const id = await create(ids, { title: 'worker killed' });
    await until('the action part-way', async () => {
      const s = await stats(id);
      return s.processed > 0 && s.processed < s.total ? true : undefined;
    });
    await workers[0]!.kill('SIGKILL');
    await expectExact(id, ids, 'worker killed');
    await expectOtherAccountUntouched();
    startWorker(); // back to two for the next test
  });

  it('finishes exactly when the API is SIGKILLed right after answering 202, and answers again after a restart', async () => {
    const ids = contactIds(0, 300);
    const id = await create(ids, { title: 'api killed' });
    await api.kill('SIGKILL');
    await startApi();
    await expectExact(id, ids, 'api killed');
  });
});
