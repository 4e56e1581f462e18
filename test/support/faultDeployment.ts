import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { loadConfig } from '../../src/config';
import { openEntityStore } from '../../src/platform';
import { seedEntities } from '../../src/seeding/generateEntities';
import type { EntityStore } from '../../src/store/entityStore';
import { freePort, startServer, until, type ServerProcess } from './serverProcess';
import { distributedEnv, uniqueName } from './services';
import { authHeader } from './apiHelpers';

/**
 * One deployment of the platform as real processes, for fault tests that kill and restart them:
 * - embedded: `npm start` (role all) on a temp DATA_DIR; "restarting" starts a new process on it;
 * - distributed: any number of `--role api` / `--role worker` processes on one MongoDB database and
 *   one RabbitMQ work queue of their own (the servers' URLs are given: shared or private ones).
 * Every process gets the same environment plus what a start adds (FAULT_CRASH_AT, say).
 */
export interface Deployment {
  mode: 'embedded' | 'distributed';
  /** Distributed mode: the MongoDB database and the RabbitMQ work queue of this deployment. */
  names: { database: string; queue: string };
  /** The API's URL (every API process of the deployment listens on the same port, one at a time). */
  base: string;
  /** Starts a process with `extraEnv`; roles other than 'all' need distributed mode. Waits for /health unless it is a worker. */
  start(role: 'all' | 'api' | 'worker', extraEnv?: Record<string, string>): Promise<ServerProcess>;
  /** Inserts entities into an account, beside any running process (the entity store only, as `npm run seed` does). */
  seed(entityType: string, accountId: string, entities: { id: string; data: Record<string, unknown> }[]): Promise<void>;
  /** Generates and inserts `count` contacts `<prefix>0000001`... (src/seeding), chunk by chunk; returns their IDs. */
  seedContacts(accountId: string, count: number, prefix: string): Promise<string[]>;
  /** The stored data of these entities of the account (absent ones left out), read beside the running processes. */
  entities(entityType: string, accountId: string, ids: string[]): Promise<Map<string, Record<string, unknown>>>;
  /** POST /api/bulk-actions/:entityType; expects 202 and returns the action id. */
  create(entityType: string, accountId: string, entityIds: string[], fieldsToUpdate: Record<string, unknown>): Promise<string>;
  /** Every process started so far, in order. */
  processes: ServerProcess[];
  /** Their output, for failure messages. */
  output(): string;
  /** SIGKILLs every process and removes the data dir, or the database and queues. */
  close(): Promise<void>;
}

export interface DeploymentOptions {
  /** Both set: distributed mode on these servers; neither: embedded. */
  mongodbUrl?: string;
  rabbitmqUrl?: string;
  /** Settings for every process (BATCH_SIZE, say). */
  env?: Record<string, string>;
}

/** Settings every fault test wants: quiet logs, fast retries, a sweeper that publishes within about 1.5 s. */
const FAULT_TEST_DEFAULTS: Record<string, string> = {
  DEMO_DATA: 'false',
  LOG_LEVEL: 'warn',
  RETRY_BASE_DELAY_MS: '50',
  RETRY_MAX_DELAY_MS: '1000',
  RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
  WORKER_CONCURRENCY: '2',
  OUTBOX_GRACE_MS: '1000',
  OUTBOX_SWEEP_INTERVAL_MS: '500',
  HOST: '127.0.0.1',
};

export async function startDeployment(options: DeploymentOptions = {}): Promise<Deployment> {
  const distributed = options.mongodbUrl !== undefined && options.rabbitmqUrl !== undefined;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = distributed ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'bap-faults-'));
  const database = uniqueName('faults');
  const queue = uniqueName('faults');
  const env: Record<string, string> = {
    ...FAULT_TEST_DEFAULTS,
    PORT: String(port),
    ...(distributed
      ? { ...distributedEnv(database, queue, options), RABBITMQ_MANAGEMENT_URL: '' }
      : // Embedded even where the environment names the servers (CI exports their URLs).
        { MONGODB_URL: '', RABBITMQ_URL: '', DATA_DIR: dataDir! }),
    ...options.env,
  };
  const processes: ServerProcess[] = [];
  const withEntityStore = async <T>(use: (store: EntityStore) => Promise<T>): Promise<T> => {
    const { entityStore, close } = await openEntityStore(loadConfig(env));
    try {
      return await use(entityStore);
    } finally {
      await close();
    }
  };
  const output = () => processes.map((p, i) => `--- process ${i} (${p.child.spawnargs.slice(-2).join(' ')}):\n${p.output()}`).join('\n');

  return {
    mode: distributed ? 'distributed' : 'embedded',
    names: { database, queue },
    base,
    processes,
    output,
    start: async (role, extraEnv = {}) => {
      if (!distributed && role !== 'all') throw new Error(`embedded mode runs one process (role all), not ${role}`);
      const server = startServer({ ...env, ...extraEnv }, ['--role', role]);
      processes.push(server);
      if (role !== 'worker') {
        await until('the API answering /health', async () => {
          if (server.child.exitCode !== null || server.child.signalCode !== null) throw new Error('exited');
          return (await fetch(`${base}/health`)).ok ? true : undefined;
        }, 60_000, output);
      }
      return server;
    },
    seed: (entityType, accountId, entities) => withEntityStore((store) => store.insertMany(entityType, accountId, entities, Date.now())),
    seedContacts: (accountId, count, prefix) =>
      withEntityStore((store) => seedEntities(store, 'contact', accountId, count, { idPrefix: prefix, chunkSize: distributed ? 1_000 : 100_000 })),
    entities: (entityType, accountId, ids) =>
      withEntityStore(async (store) => new Map((await store.getMany(entityType, accountId, ids, { withData: true })).map((e) => [e.id, e.data]))),
    create: async (entityType, accountId, entityIds, fieldsToUpdate) => {
      const res = await fetch(`${base}/api/bulk-actions/${entityType}`, {
        method: 'POST',
        headers: { ...authHeader(), 'content-type': 'application/json' },
        body: JSON.stringify({ accountId, entityIds, fieldsToUpdate }),
      });
      expect(res.status, await res.clone().text()).toBe(202);
      return ((await res.json()) as { id: string }).id;
    },
    close: async () => {
      await Promise.all(processes.map((p) => p.kill('SIGKILL')));
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      if (distributed) {
        await dropDatabases(options.mongodbUrl!, [database]).catch(() => undefined);
        await deleteQueues(options.rabbitmqUrl!, [queue]).catch(() => undefined);
      }
    },
  };
}

/** Contacts `<prefix>0000001`... with unique emails, as seeded into both the acting and the other account. */
export function contacts(prefix: string, count: number): { id: string; data: Record<string, unknown> }[] {
  return Array.from({ length: count }, (_, i) => {
    const id = `${prefix}${String(i + 1).padStart(7, '0')}`;
    return { id, data: { email: `${id}@example.com`, title: 'seeded', status: 'lead' } };
  });
}

/** Resolves once the process has died of SIGKILL (a crash point fired), failing after `timeoutMs`. */
export async function expectKilled(server: ServerProcess, timeoutMs: number, describe: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, timeoutMs, 'timeout')));
  const result = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);
  expect(result, `the process did not die within ${timeoutMs} ms\n${describe()}`).not.toBe('timeout');
  expect(server.child.signalCode, describe()).toBe('SIGKILL');
}
