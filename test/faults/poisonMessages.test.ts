import amqp from 'amqplib';
import Database from 'better-sqlite3';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { BaseEntityHandler, type EntityResult } from '../../src/handlers/BaseEntityHandler';
import { handlers } from '../../src/handlers/index';
import { DATABASE_FILE } from '../../src/platform';
import type { JobStore } from '../../src/store/jobStore';
import { contacts } from '../support/faultDeployment';
import { expectAccountUntouched, expectActionInvariants, reportFault } from '../support/faultInvariants';
import { describeWithServices, distributedEnv, services, uniqueName } from '../support/services';
import { makeTestPlatform, type TestPlatform } from '../support/testPlatform';
import { waitFor } from '../support/waitFor';
import { authHeader } from '../support/apiHelpers';

/**
 * Fault 4: poison and malformed batches reach the dead letters (the SQLite table embedded, the
 * RabbitMQ dead-letter queue distributed) within the attempt limit, their entities end FAILED with a
 * clear code, and the queue keeps flowing: an action queued behind them completes exactly.
 * In-process (WORKER_THREADS=0), because a handler that throws on every try needs a test registry.
 * The poison: garbage bytes, a batch of an action that was never stored, a handler that throws on
 * every try, and a batch whose processing fails before its attempt count is checked (the job store
 * refuses to mark its action running).
 */
const ACCOUNT = 'acme';
const OTHER = 'globex';
const MAX_ATTEMPTS = 3;
const BOUND_MS = 30_000;

/** Leads whose CRM is down for good: every try throws a transient error. */
class LeadsAlwaysDown extends BaseEntityHandler {
  constructor() {
    super('lead');
  }
  async validateEntity(): Promise<boolean> {
    return true;
  }
  async updateEntity(): Promise<void> {}
  override async processBatch(): Promise<EntityResult[]> {
    throw new Error('lead CRM unavailable');
  }
}

interface Mode {
  name: 'embedded' | 'distributed';
  env: () => Record<string, string>;
  /** Puts bytes that are not a batch on the work queue. */
  injectGarbage(t: TestPlatform, env: Record<string, string>): Promise<void>;
  cleanUp(env: Record<string, string>): Promise<void>;
}

const GARBAGE = Buffer.from([0xff, 0x00, 0xfe, 0x7b, 0x22]);

function poisonSuite(mode: Mode): void {
  let t: TestPlatform | undefined;
  let env: Record<string, string>;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await mode.cleanUp(env);
  });

  it(`dead-letters garbage, an unknown action, an always-failing handler and a batch failing before its attempt check within ${MAX_ATTEMPTS} attempts; the action behind them completes within ${BOUND_MS / 1000} s`, async () => {
    env = { ...mode.env(), BATCH_SIZE: '5', MAX_BATCH_ATTEMPTS: String(MAX_ATTEMPTS), RETRY_MAX_DELAY_MS: '50', WORKER_THREADS: '0', WORKER_CONCURRENCY: '2' };
    t = await makeTestPlatform(env, { handlers: { ...handlers, lead: new LeadsAlwaysDown() } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const { entityStore } = t.platform;
    const mine = contacts('c-', 30);
    const theirs = contacts('o-', 5);
    const leads = contacts('l-', 8);
    await entityStore.insertMany('contact', ACCOUNT, mine, Date.now());
    await entityStore.insertMany('contact', OTHER, theirs, Date.now());
    await entityStore.insertMany('lead', ACCOUNT, leads, Date.now());
    const create = async (entityType: string, entityIds: string[], title: string) => {
      const res = await fetch(`${base}/api/bulk-actions/${entityType}`, {
        method: 'POST',
        headers: { ...authHeader(), 'content-type': 'application/json' },
        body: JSON.stringify({ accountId: ACCOUNT, entityIds, fieldsToUpdate: { title } }),
      });
      expect(res.status, await res.clone().text()).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };

    // 1. bytes that are not a batch; 2. a well-formed batch of an action that was never stored.
    await mode.injectGarbage(t, env);
    await t.platform.queue.publish([{ actionId: 'never-stored', accountId: ACCOUNT, entityType: 'contact', batchNo: 0, entityIds: [mine[0]!.id], seqs: [0], fieldsToUpdate: { title: 'forged' } }]);
    // 3. an action whose handler throws on every try (8 leads: 2 batches).
    const leadAction = await create('lead', leads.map((l) => l.id), 'never');
    // 4. an action whose processing fails before its attempt is checked, on every delivery (1 batch).
    const stuckIds = mine.slice(25).map((c) => c.id);
    const stuckAction = await create('contact', stuckIds, 'stuck');
    // Behind all of them, a good action.
    const submitted = [...mine.slice(0, 25).map((c) => c.id), theirs[0]!.id];
    const goodAction = await create('contact', submitted, 'good');

    const store = t.platform.jobStore;
    let stuckDeliveries = 0;
    const refusing: JobStore = Object.assign(Object.create(store) as JobStore, {
      markRunning: async (id: string, at: number) => {
        if (id !== stuckAction) return store.markRunning(id, at);
        stuckDeliveries++;
        throw new Error('the job store refuses this action (a corrupt row, say)');
      },
    });
    const startedAt = Date.now();
    await t.startWorkers({ jobStore: refusing });

    const good = await expectActionInvariants({ base, actionId: goodAction, submitted, boundMs: BOUND_MS, since: startedAt,
      written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'good' } });
    expect(good.stats.status).toBe('COMPLETED');
    const lead = await expectActionInvariants({ base, actionId: leadAction, submitted: leads.map((l) => l.id), boundMs: BOUND_MS, since: startedAt });
    expect(lead.stats).toMatchObject({ status: 'FAILED', failed: leads.length, errorsByCode: { RETRIES_EXHAUSTED: leads.length } });

    // Dead letters: the garbage, the unknown action, the lead action's 2 batches, the stuck batch.
    await waitFor(async () => (await t!.platform.queue.depth()).deadLettered >= 5, BOUND_MS, 'five dead letters');
    const stuck = await expectActionInvariants({ base, actionId: stuckAction, submitted: stuckIds, boundMs: BOUND_MS, since: startedAt });
    expect(stuck.stats).toMatchObject({ status: 'FAILED', failed: stuckIds.length });
    expect(stuckDeliveries, 'the stuck batch stopped being delivered at the attempt limit').toBeLessThanOrEqual(MAX_ATTEMPTS + 1);
    const depth = await t.platform.queue.depth();
    expect(depth).toMatchObject({ ready: 0, delayed: 0, deadLettered: 5 });
    expect((await entityStore.get('contact', ACCOUNT, mine[0]!.id))?.data.title, 'the unknown action\'s batch wrote nothing').toBe('good');
    await expectAccountUntouched(base, 'contact', OTHER, theirs.map((c) => c.id));
    reportFault('poison batches (garbage, unknown action, handler always failing, failing before the attempt check)', mode.name,
      `5 dead letters; lead ${lead.stats.status} RETRIES_EXHAUSTED; stuck ${stuck.stats.status} ${JSON.stringify(stuck.stats.errorsByCode)}; good COMPLETED`, good.msToTerminal);
  }, BOUND_MS * 3 + 30_000);
}

describe('embedded (the SQLite queue and its dead-letter table)', () => {
  poisonSuite({
    name: 'embedded',
    env: () => ({ MONGODB_URL: '', RABBITMQ_URL: '' }),
    injectGarbage: async (t) => {
      const db = new Database(path.join(t.dataDir, DATABASE_FILE));
      try {
        db.pragma('busy_timeout = 5000');
        db.prepare('INSERT INTO queue_batches (action_id, payload) VALUES (?, ?)').run('garbage', GARBAGE);
      } finally {
        db.close();
      }
    },
    cleanUp: async () => {},
  });
});

describeWithServices('distributed (RabbitMQ and its dead-letter queue)', ['mongodb', 'rabbitmq'], () => {
  poisonSuite({
    name: 'distributed',
    env: () => distributedEnv(uniqueName('poison'), uniqueName('poison')),
    injectGarbage: async (_t, env) => {
      const connection = await amqp.connect(env.RABBITMQ_URL!);
      try {
        const channel = await connection.createConfirmChannel();
        channel.sendToQueue(env.RABBITMQ_QUEUE!, GARBAGE, { persistent: true });
        await channel.waitForConfirms();
        await channel.close();
      } finally {
        await connection.close();
      }
    },
    cleanUp: async (env) => {
      await dropDatabases(services.mongodbUrl!, [env.MONGODB_DATABASE!]);
      await deleteQueues(services.rabbitmqUrl!, [env.RABBITMQ_QUEUE!]);
    },
  });
});
