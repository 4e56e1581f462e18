import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { statsOf } from '../../src/actions/actionView';
import { createBulkAction } from '../../src/actions/createBulkAction';
import { loadConfig } from '../../src/config';
import { BaseEntityHandler, type EntityResult } from '../../src/handlers/BaseEntityHandler';
import { ContactHandler } from '../../src/handlers/ContactHandler';
import { handlers, type HandlerRegistry } from '../../src/handlers/index';
import { buildPlatform, type Platform } from '../../src/platform';
import { processBatch } from '../../src/processing/processBatch';
import { writerStamp, type EntitySnapshot } from '../../src/store/entityStore';
import type { BatchMessage, FieldUpdates } from '../../src/types/entities';
import { deleteQueues, dropDatabases } from '../../scripts/realServers';
import { distributedEnv, services, uniqueName } from '../support/services';
import { makeTestPlatform } from '../support/testPlatform';

/**
 * Issue 6, #2 (the action created later wins, per entity), #3 (written means SUCCESS) and #9
 * (durationMs and entitiesPerSecond describe the processing), in both modes: batches are driven
 * through processBatch by hand, so each interleaving is exact rather than timed.
 */

/** The contact handler with hooks around its write: a test runs another action "meanwhile", or fails after the write. */
class ScriptedContacts extends ContactHandler {
  beforeWrite?: (updates: FieldUpdates) => Promise<void>;
  afterWrite?: (updates: FieldUpdates) => Promise<void>;

  override async processBatch(entities: EntitySnapshot[], updates: FieldUpdates): Promise<EntityResult[]> {
    await this.beforeWrite?.(updates);
    const results = await super.processBatch(entities, updates);
    await this.afterWrite?.(updates);
    return results;
  }
}

/** Written as the spec's extension guide shows (per entity, through `crmClient.update`), with the same hook. */
class SeedShapedWidgets extends BaseEntityHandler {
  beforeWrite?: (updates: FieldUpdates) => Promise<void>;

  constructor() {
    super('widget');
  }

  async validateEntity(): Promise<boolean> {
    return true;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the guide's signature
  async updateEntity(entityId: string, updates: Record<string, any>): Promise<void> {
    await this.beforeWrite?.(updates);
    await this.crmClient.update(entityId, updates);
  }
}

interface Mode {
  name: string;
  skip: string | false;
  open(registry: HandlerRegistry, env: Record<string, string>): Promise<{ platform: Platform; close: () => Promise<void> }>;
}

const MODES: Mode[] = [
  {
    name: 'embedded (SQLite)',
    skip: false,
    async open(registry, env) {
      const t = await makeTestPlatform(env, { handlers: registry });
      return { platform: t.platform, close: t.close };
    },
  },
  {
    name: 'distributed (MongoDB)',
    skip: services.mongodbUrl && services.rabbitmqUrl ? false : 'needs MONGODB_URL and RABBITMQ_URL',
    async open(registry, env) {
      const database = uniqueName('stamps');
      const queue = uniqueName('stamps');
      const config = loadConfig({ ...distributedEnv(database, queue), LOG_LEVEL: 'silent', ...env });
      const platform = await buildPlatform(config, { logger: pino({ level: 'silent' }), handlers: registry });
      return {
        platform,
        close: async () => {
          await platform.close();
          await dropDatabases(services.mongodbUrl!, [database]);
          await deleteQueues(services.rabbitmqUrl!, [queue]);
        },
      };
    },
  },
];

const ACCOUNT = 'acme';

for (const mode of MODES) {
  describe.skipIf(mode.skip !== false)(`writer stamps and outcomes: ${mode.name}${mode.skip ? ` (skipped: ${mode.skip})` : ''}`, () => {
    let close: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await close?.();
      close = undefined;
    });

    async function open(env: Record<string, string> = {}) {
      const contact = new ScriptedContacts();
      const widget = new SeedShapedWidgets();
      const opened = await mode.open({ ...handlers, contact, widget }, { BATCH_SIZE: '10', MAX_BATCH_ATTEMPTS: '3', ...env });
      close = opened.close;
      const p = opened.platform;
      const ids = ['c1', 'c2', 'c3'];
      await p.entityStore.insertMany('contact', ACCOUNT, ids.map((id) => ({ id, data: { email: `${id}@x.io`, title: 'seeded' } })), Date.now());
      await p.entityStore.insertMany('widget', ACCOUNT, ids.map((id) => ({ id, data: { title: 'seeded' } })), Date.now());
      // Stored and planned, never published: the test hands each batch to processBatch itself.
      const unpublished = { ...p, queue: Object.assign(Object.create(p.queue) as typeof p.queue, { publish: async () => {} }) };
      let clock = Date.now();
      /** Creates an action a millisecond after the previous one (creation order decides who wins) and returns its one batch. */
      const create = async (entityType: string, entityIds: string[], fieldsToUpdate: FieldUpdates): Promise<BatchMessage> => {
        clock += 1;
        const { actionId } = await createBulkAction({ ...unpublished, now: () => clock }, { accountId: ACCOUNT, entityType, entityIds, fieldsToUpdate }, null);
        return (await p.jobStore.batchPlan(actionId))[0]!;
      };
      const titles = async (type: string) => Promise.all(ids.map(async (id) => (await p.entityStore.get(type, ACCOUNT, id))?.data.title));
      const logs = async (actionId: string) =>
        (await p.jobStore.listOutcomes(actionId, null, 0, 100)).items.map((o) => [o.entityId, o.status, o.code]);
      return { p, contact, widget, ids, create, titles, logs };
    }

    it('an older action retried after a newer one completed skips what the newer one wrote: SKIPPED SUPERSEDED', async () => {
      const { p, contact, ids, create, titles, logs } = await open();
      const older = await create('contact', [...ids, 'missing'], { title: 'older' });
      const newer = await create('contact', ids.slice(0, 2), { title: 'newer' });
      contact.beforeWrite = async (updates) => {
        if (updates.title === 'older') throw new Error('connection reset'); // A sleeps in its retry
      };
      await expect(processBatch(p, older, { attempt: 1 })).rejects.toThrow('connection reset');
      contact.beforeWrite = undefined;
      expect(await processBatch(p, newer, { attempt: 1 })).toBe('ack');
      expect(await processBatch(p, older, { attempt: 2 })).toBe('ack');

      expect(await titles('contact')).toEqual(['newer', 'newer', 'older']);
      expect(await logs(newer.actionId)).toEqual([['c1', 'SUCCESS', null], ['c2', 'SUCCESS', null]]);
      expect(await logs(older.actionId)).toEqual([
        ['c1', 'SKIPPED', 'SUPERSEDED'], ['c2', 'SKIPPED', 'SUPERSEDED'], ['c3', 'SUCCESS', null], ['missing', 'FAILED', 'NOT_FOUND'],
      ]);
      const action = await p.jobStore.getActionWithErrors(older.actionId);
      expect(action?.action).toMatchObject({ status: 'COMPLETED', progress: { processed: 4, succeeded: 1, failed: 1, skipped: 2 } });
      expect(action?.errorsByCode).toEqual({ SUPERSEDED: 2, NOT_FOUND: 1 });
    });

    it.each([
      ['a built-in handler (one updateMany)', 'contact'],
      ['a handler written as the seed guide shows (update per entity)', 'widget'],
    ] as const)('a newer action writing between an older one\'s read and its write wins, with %s', async (_label, type) => {
      const { p, contact, widget, ids, create, titles, logs } = await open();
      const older = await create(type, ids, { title: 'older' });
      const newer = await create(type, ['c2'], { title: 'newer' });
      let ranNewer = false;
      const meanwhile = async (updates: FieldUpdates) => {
        if (updates.title !== 'older' || ranNewer) return;
        ranNewer = true; // the older action has read its entities (no newer stamp yet) and is about to write
        expect(await processBatch(p, newer, { attempt: 1 })).toBe('ack');
      };
      if (type === 'contact') contact.beforeWrite = meanwhile;
      else widget.beforeWrite = meanwhile;
      expect(await processBatch(p, older, { attempt: 1 })).toBe('ack');

      expect(ranNewer).toBe(true);
      expect(await titles(type)).toEqual(['older', 'newer', 'older']);
      expect(await logs(older.actionId)).toEqual([['c1', 'SUCCESS', null], ['c2', 'SKIPPED', 'SUPERSEDED'], ['c3', 'SUCCESS', null]]);
      expect(await logs(newer.actionId)).toEqual([['c2', 'SUCCESS', null]]);
    });

    it('a transient error after the write on every attempt still logs SUCCESS for what was written', async () => {
      const { p, contact, ids, create, titles, logs } = await open();
      const batch = await create('contact', [...ids, 'missing'], { title: 'written' });
      contact.afterWrite = async () => {
        throw new Error('audit log unavailable');
      };
      for (const attempt of [1, 2]) await expect(processBatch(p, batch, { attempt })).rejects.toThrow('audit log unavailable');
      expect(await processBatch(p, batch, { attempt: 3 })).toBe('dead-letter');

      expect(await titles('contact')).toEqual(['written', 'written', 'written']);
      expect(await logs(batch.actionId)).toEqual([['c1', 'SUCCESS', null], ['c2', 'SUCCESS', null], ['c3', 'SUCCESS', null], ['missing', 'FAILED', 'NOT_FOUND']]);
      expect((await p.jobStore.getAction(batch.actionId))?.status).toBe('COMPLETED');
    });

    it('a batch delivered after its last attempt died logs SUCCESS for what that attempt wrote, and fails the rest', async () => {
      const { p, ids, create, logs } = await open();
      const batch = await create('contact', ids, { title: 'written' });
      const action = (await p.jobStore.getAction(batch.actionId))!;
      // The last attempt wrote c1 (with this action's stamp) and died before recording anything.
      await p.entityStore.updateMany('contact', ACCOUNT, ['c1'], { title: 'written' }, Date.now(), writerStamp(action.createdAt, action.id));
      expect(await processBatch(p, batch, { attempt: 4 })).toBe('dead-letter');
      expect(await logs(batch.actionId)).toEqual([['c1', 'SUCCESS', null], ['c2', 'FAILED', 'RETRIES_EXHAUSTED'], ['c3', 'FAILED', 'RETRIES_EXHAUSTED']]);
    });

    it('durationMs is the processing time (not the downtime), and entitiesPerSecond leaves out DUPLICATE_ID repeats', async () => {
      const { p, create } = await open({ BATCH_SIZE: '2' });
      const batch0 = await create('contact', ['c1', 'c2', 'c3', 'c1', 'c1', 'c1'], { title: 'x' });
      const [first, ...rest] = await p.jobStore.batchPlan(batch0.actionId); // [c1, c2], [c3], then the repeats
      let clock = Date.now();
      const ticking = { ...p, now: () => (clock += 5) }; // every reading of the clock is 5 ms later
      await processBatch(ticking, first!, { attempt: 1 });
      clock += 3_600_000; // the process was down for an hour
      for (const batch of rest) await processBatch(ticking, batch, { attempt: 1 });

      const { action, errorsByCode } = (await p.jobStore.getActionWithErrors(batch0.actionId))!;
      expect(action.status).toBe('COMPLETED');
      expect(action.completedAt! - action.startedAt!).toBeGreaterThan(3_600_000);
      const stats = statsOf(action, errorsByCode);
      expect(stats.durationMs).toBeGreaterThan(0);
      expect(stats.durationMs).toBeLessThan(1_000);
      expect(stats.entitiesPerSecond).toBe(Math.round((3 / stats.durationMs!) * 1000));
    });
  });
}
