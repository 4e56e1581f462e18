import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { BaseEntityHandler, PartialBatchError, runWithCrmClient } from '../../src/handlers/BaseEntityHandler';
import { CrmClient } from '../../src/handlers/crmClient';
import { handlers } from '../../src/handlers/index';
import type { EntityStore } from '../../src/store/entityStore';

/** The real SQLite store, with every call counted on the way through. */
function counting(store: EntityStore): { store: EntityStore; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(name)] = (calls[String(name)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: wrapped, calls };
}

let dir: string;
let db: SqliteDatabase;
let real: SqliteEntityStore;
beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handler-paths-'));
  db = openDatabase(path.join(dir, 'x.db'));
  real = new SqliteEntityStore(db, (t) => (t === 'contact' ? 'email' : undefined));
  const ids = Array.from({ length: 1000 }, (_, i) => `c${i}`);
  await real.insertMany('contact', 'acme', ids.map((id) => ({ id, data: { email: `${id}@x.io`, status: 'lead' } })), 1);
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the batch path of a built-in handler', () => {
  it('validates in memory and writes 1000 entities with one updateMany', async () => {
    const { store, calls } = counting(real);
    const crm = new CrmClient(store, 'contact', 'acme');
    const entities = await real.getMany('contact', 'acme', Array.from({ length: 1000 }, (_, i) => `c${i}`));
    const results = await runWithCrmClient(crm, () => handlers.contact.processBatch(entities, { status: 'customer' }));
    expect(results.filter((r) => r.status === 'SUCCESS')).toHaveLength(1000);
    expect(calls).toEqual({ updateMany: 1 });
    expect((await real.get('contact', 'acme', 'c999'))?.data.status).toBe('customer');
  });

  it('reports an entity that left the account between the read and the write as NOT_FOUND', async () => {
    const crm = new CrmClient(real, 'contact', 'acme');
    const entities = await real.getMany('contact', 'acme', ['c1', 'c2']);
    await real.insertMany('contact', 'globex', [{ id: 'c2', data: { email: 'c2@x.io' } }], 2); // c2 moves away
    const results = await runWithCrmClient(crm, () => handlers.contact.processBatch(entities, { status: 'customer' }));
    expect(results.map((r) => [r.entityId, r.status, r.code])).toEqual([['c1', 'SUCCESS', null], ['c2', 'FAILED', 'NOT_FOUND']]);
    expect((await real.get('contact', 'globex', 'c2'))?.data.status).toBeUndefined();
  });
});

describe('the per-entity path of a seed-shaped handler', () => {
  class Flaky extends BaseEntityHandler {
    constructor(private readonly failAt: string) {
      super('contact');
    }
    async validateEntity(): Promise<boolean> {
      return true;
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the spec's signature
    async updateEntity(entityId: string, updates: Record<string, any>): Promise<void> {
      if (entityId === this.failAt) throw new Error('connection reset');
      await this.crmClient.update(entityId, updates);
    }
  }

  it('calls update once per entity', async () => {
    const { store, calls } = counting(real);
    const crm = new CrmClient(store, 'contact', 'acme');
    const entities = await real.getMany('contact', 'acme', ['c1', 'c2', 'c3']);
    const results = await runWithCrmClient(crm, () => new Flaky('none').processBatch(entities, { status: 'customer' }));
    expect(results.map((r) => r.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
    expect(calls).toEqual({ updateMany: 3 }); // one single-entity write each
  });

  it('hands over what it finished when a transient error stops it part-way', async () => {
    const crm = new CrmClient(real, 'contact', 'acme');
    const entities = await real.getMany('contact', 'acme', ['c1', 'c2', 'c3']);
    const error = await runWithCrmClient(crm, () => new Flaky('c3').processBatch(entities, { status: 'customer' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PartialBatchError);
    expect((error as PartialBatchError).finished.map((r) => [r.entityId, r.status])).toEqual([['c1', 'SUCCESS'], ['c2', 'SUCCESS']]);
    expect((error as PartialBatchError).cause.message).toBe('connection reset');
  });
});
