import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { PermanentError } from '../../src/errors';
import { CrmClient } from '../../src/handlers/crmClient';
import { handlers } from '../../src/handlers/index';
import { writerStamp } from '../../src/store/entityStore';
import type { EntityType, FieldUpdates } from '../../src/types/entities';
import { T0 } from '../support/fixtures';
import { repoRoot, typecheckWith } from '../support/typecheck';

/**
 * Issue 8: the seed's per-type names (`productExists`, `updateProduct`, the template's
 * `updateNewEntity`) on `this.crmClient`, for every registered type, against a real SQLite store.
 */

let dir: string;
let db: SqliteDatabase;
let store: SqliteEntityStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-spec-names-'));
  db = openDatabase(path.join(dir, 'x.db'));
  store = new SqliteEntityStore(db, () => undefined);
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const registered = Object.keys(handlers) as EntityType[];
const existsName = (t: EntityType) => `${t}Exists` as const;
const updateName = (t: EntityType) => `update${t.charAt(0).toUpperCase()}${t.slice(1)}` as `update${Capitalize<EntityType>}`;
const stamp = writerStamp(T0, 'action-b');

describe.each(registered)('the spec names of %s', (type) => {
  it('answer exists within the client\'s account only', async () => {
    await store.insertMany(type, 'acct-a', [{ id: 'e1', data: { name: 'seeded' } }], T0);
    await store.insertMany(type, 'acct-b', [{ id: 'e2', data: { name: 'other account' } }], T0);
    const crm = new CrmClient(store, type, 'acct-a', () => T0 + 1, stamp);
    expect(await crm[existsName(type)]('e1')).toBe(true);
    expect(await crm[existsName(type)]('e2')).toBe(false);
  });

  it('write through the same conditional write as update: stamped, and a newer action wins', async () => {
    await store.insertMany(type, 'acct-a', [{ id: 'e1', data: { name: 'seeded' } }, { id: 'e2', data: { name: 'seeded' } }], T0);
    // e2 was written by an action created after this client's one.
    const newer = writerStamp(T0 + 5, 'action-c');
    await store.updateMany(type, 'acct-a', ['e2'], { name: 'newer' }, T0 + 6, newer);

    const crm = new CrmClient(store, type, 'acct-a', () => T0 + 10, stamp);
    const updates: FieldUpdates = { name: 'spec' };
    expect(await crm[updateName(type)]('e1', updates)).toBe(true);
    expect(await crm[updateName(type)]('e2', updates)).toBe(true);
    expect(await crm[updateName(type)]('gone', updates)).toBe(false);

    const [e1, e2] = await store.getMany(type, 'acct-a', ['e1', 'e2']);
    expect(e1).toMatchObject({ id: 'e1', writer: stamp, data: { name: 'spec' } });
    expect(e2).toMatchObject({ id: 'e2', writer: newer, data: { name: 'newer' } });
    expect([...crm.written]).toEqual(['e1']);
    expect([...crm.superseded]).toEqual(['e2']);
    expect([...crm.missing]).toEqual(['gone']);
  });

  it("reject another type's names with a PermanentError naming both, touching nothing", async () => {
    const other = registered.find((t) => t !== type) as EntityType;
    await store.insertMany(other, 'acct-a', [{ id: 'e1', data: { name: 'seeded' } }], T0);
    const crm = new CrmClient(store, type, 'acct-a', () => T0 + 1, stamp);

    for (const call of [() => crm[updateName(other)]('e1', { name: 'leak' }), () => crm[existsName(other)]('e1')]) {
      const error = await call().then(() => null, (thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(PermanentError);
      expect((error as Error).message).toContain(`reaches ${other} records`);
      expect((error as Error).message).toContain(`scoped to ${type}`);
    }
    expect((await store.get(other, 'acct-a', 'e1'))?.data).toEqual({ name: 'seeded' });
  });
});

it("camel-cases a member like the seed template's 'newEntity' (updateNewEntity, newEntityExists)", async () => {
  await store.insertMany('newEntity', 'acct-a', [{ id: 'n1', data: { name: 'seeded' } }], T0);
  // 'newEntity' is not in EntityType (a registry may hold more types), so its names are reached untyped here.
  const crm = new CrmClient(store, 'newEntity', 'acct-a', () => T0 + 1, stamp) as unknown as Record<string, (id: string, updates?: FieldUpdates) => Promise<boolean>>;
  expect(await crm.newEntityExists?.('n1')).toBe(true);
  expect(await crm.updateNewEntity?.('n1', { name: 'spec' })).toBe(true);
  expect((await store.get('newEntity', 'acct-a', 'n1'))?.data).toEqual({ name: 'spec' });
});

it('keeps the generic methods, and a misspelt spec name is a compile error', async () => {
  await store.insertMany('product', 'acct-a', [{ id: 'p1', data: { name: 'seeded' } }], T0);
  const crm = new CrmClient(store, 'product', 'acct-a', () => T0 + 1, stamp);
  expect(await crm.exists('p1')).toBe(true);
  expect(await crm.update('p1', { name: 'generic' })).toBe(true);
  expect((await crm.updateMany(['p1'], { name: 'many' })).written).toEqual(['p1']);
  // `npm run typecheck` fails if this stops being an error (tsconfig includes test/).
  // @ts-expect-error -- 'prodcut' is not an EntityType
  const typo: unknown = crm.updateProdcut;
  expect(typeof typo).toBe('function');
  // Names that are not spec-shaped are simply absent (so e.g. `then` does not make the client thenable).
  expect((crm as unknown as Record<string, unknown>).then).toBeUndefined();
});

/** The spec's template (its "Adding Support for New Entity Types", step 1), with its example call uncommented. */
const SPEC_TEMPLATE = `import { BaseEntityHandler } from './BaseEntityHandler';

export class NewEntityHandler extends BaseEntityHandler {
  constructor() {
    super('newEntity');
  }

  async validateEntity(entityId: string): Promise<boolean> {
    // Add entity-specific validation logic
    return true;
  }

  async updateEntity(entityId: string, updates: Record<string, any>): Promise<void> {
    await this.crmClient.updateNewEntity(entityId, updates);
  }
}
`;

it("type-checks the spec template's this.crmClient.updateNewEntity once its steps 2 and 3 are done", () => {
  const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), 'utf8');
  // The spec's step 2 (a registry line) and step 3 (an EntityType member), in memory.
  const files = {
    'src/handlers/NewEntityHandler.ts': SPEC_TEMPLATE,
    'src/handlers/index.ts': `import { NewEntityHandler } from './NewEntityHandler';\n${read('src/handlers/index.ts')}`.replace(
      /^\} satisfies/m,
      '  newEntity: new NewEntityHandler(),\n} satisfies',
    ),
    'src/types/entities.ts': read('src/types/entities.ts').replace(/(export type EntityType =[^;]*);/, "$1\n  | 'newEntity';"),
  };
  expect(typecheckWith(files, ['src/handlers/NewEntityHandler.ts', 'src/handlers/index.ts'])).toEqual([]);
  // And the check can fail: a name of no EntityType member does not compile.
  const misspelt = { ...files, 'src/handlers/NewEntityHandler.ts': SPEC_TEMPLATE.replace('updateNewEntity', 'updateNewEntty') };
  expect(typecheckWith(misspelt, ['src/handlers/NewEntityHandler.ts']).join('\n')).toContain("Property 'updateNewEntty' does not exist");
}, 60_000);
