import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/sqlite/database';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { runWithCrmClient } from '../../src/handlers/BaseEntityHandler';
import { CrmClient } from '../../src/handlers/crmClient';
import { handlers } from '../../src/handlers/index';
import type { FieldUpdates } from '../../src/types/entities';

/**
 * A handler that says it does not need the current data must not read it: the core then loads
 * only ids and keys, and a read of `data` would throw. Every update shape below is tried.
 */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'needs-data-'));
const db = openDatabase(path.join(dir, 'x.db'));
const store = new SqliteEntityStore(db, (t) => (t === 'contact' || t === 'lead' ? 'email' : undefined));
afterAll(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const samples: Record<string, FieldUpdates[]> = {
  contact: [{ status: 'lead' }, { status: 'customer' }, { title: 'CEO' }, { tags: ['a'] }, { phone: null }],
  lead: [{ status: 'qualified' }, { status: 'qualified', score: 80 }, { status: 'lost' }, { score: 10 }, { name: 'n' }],
  account: [{ name: 'n' }, { name: 'n', status: 'active' }, { status: 'inactive' }, { employees: 3 }],
  product: [{ active: true }, { active: true, price: 5 }, { active: false }, { price: 0 }, { currency: 'EUR' }],
};

describe('needsCurrentData', () => {
  for (const [type, updatesList] of Object.entries(samples)) {
    it.each(updatesList.map((u) => [JSON.stringify(u), u] as const))(`${type}: %s gives the same results with or without data`, async (_name, updates) => {
      const handler = handlers[type as keyof typeof handlers];
      const crm = new CrmClient(store, type, 'acme');
      await store.insertMany(type, 'acme', [{ id: 'e1', data: { status: 'churned', score: 10, price: 0 } }], 1);
      const withData = await runWithCrmClient(crm, async () => handler.processBatch(await crm.getMany(['e1']), updates));
      await store.insertMany(type, 'acme', [{ id: 'e1', data: { status: 'churned', score: 10, price: 0 } }], 1);
      const needs = handler.needsCurrentData(updates);
      const keysOnly = await crm.getMany(['e1'], { withData: needs });
      const without = await runWithCrmClient(crm, () => handler.processBatch(keysOnly, updates));
      expect(without).toEqual(withData);
    });
  }

  it('the samples include updates that need data and updates that do not, for every type', () => {
    for (const [type, updatesList] of Object.entries(samples)) {
      const handler = handlers[type as keyof typeof handlers];
      expect(new Set(updatesList.map((u) => handler.needsCurrentData(u)))).toEqual(new Set([true, false]));
    }
  });
});
