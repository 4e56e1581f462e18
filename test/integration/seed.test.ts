import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { loadConfig } from '../../src/config';
import { checkFieldValue } from '../../src/handlers/fieldSchema';
import { handlerFor, handlers, type HandlerRegistry } from '../../src/handlers/index';
import { buildPlatform, DATABASE_FILE } from '../../src/platform';
import { DEMO_COUNT_OTHER_TYPES, demoCounts, seedDemoAccount } from '../../src/seeding/demo';
import { generateEntities, seedEntities } from '../../src/seeding/generateEntities';
import type { FieldValue } from '../../src/types/entities';
import { GadgetHandler } from '../support/gadgetHandler';

let dir: string;
let db: SqliteDatabase;
let store: SqliteEntityStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'seed-test-'));
  db = openDatabase(path.join(dir, DATABASE_FILE));
  store = new SqliteEntityStore(db, (type) => handlerFor(handlers, type)?.dedupeKey);
});

afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('seedEntities', () => {
  it('inserts in chunks, reporting progress and streaming the IDs in order', async () => {
    const streamed: string[] = [];
    const progress: number[] = [];
    const result = await seedEntities(store, 'contact', 'acme', 25_000, {
      idPrefix: 'contact-acme-',
      chunkSize: 10_000,
      onProgress: (done) => progress.push(done),
      idSink: async (ids) => {
        streamed.push(...ids);
      },
    });

    expect(result).toBeUndefined();
    expect(progress).toEqual([10_000, 20_000, 25_000]);
    expect(streamed).toHaveLength(25_000);
    expect(streamed.slice(0, 2)).toEqual(['contact-acme-0000001', 'contact-acme-0000002']);
    expect(await store.count('contact', 'acme')).toBe(25_000);
    expect(streamed.at(-1)).toBe('contact-acme-0025000');
    expect((await store.getMany('contact', 'acme', ['contact-acme-0000001', 'contact-acme-0025000', 'contact-acme-0025001'])).map((e) => e.id).sort())
      .toEqual(['contact-acme-0000001', 'contact-acme-0025000']);
    expect(await store.count('contact', 'other')).toBe(0);
    expect(await store.count('lead', 'acme')).toBe(0);
  });

  it('stores the same data as one uncut run, duplicates included, and returns the IDs without a sink', async () => {
    const options = { idPrefix: 'lead-', duplicateEmailRate: 0.1, seed: 11 };
    const ids = await seedEntities(store, 'lead', 'acme', 2_000, { ...options, chunkSize: 700 });

    const expected = generateEntities('lead', 2_000, options);
    expect(ids).toEqual(expected.map((e) => e.id));
    for (const entity of expected) expect((await store.get('lead', 'acme', entity.id))?.data).toEqual(entity.data);
    // The repeated emails reach the store as shared de-dup keys, which is what a demo of de-dup needs.
    const snapshots = await store.getMany('lead', 'acme', ids);
    expect(snapshots.filter((s) => s.keyShared).length).toBeGreaterThan(100);
  });
});

describe('seedDemoAccount', () => {
  it('seeds an empty data dir once, then leaves the demo account alone', async () => {
    const config = loadConfig({ DATA_DIR: path.join(dir, 'platform'), LOG_LEVEL: 'silent' });
    const platform = await buildPlatform(config, { logger: pino({ level: 'silent' }) });
    try {
      const first = await seedDemoAccount(platform);
      const keyFile = path.join(dir, 'platform', 'demo-api-key');
      expect(first).toEqual({
        accountId: 'demo',
        counts: demoCounts(handlers),
        seededNow: true,
        apiKey: { file: keyFile, createdKey: expect.stringMatching(/^bap_/) as unknown as string },
      });
      expect(await platform.entityStore.get('contact', 'demo', 'contact-0000001')).not.toBeNull();
      expect(await platform.entityStore.count('contact', 'other')).toBe(100);
      // Account isolation: the other account's contacts are invisible from the demo account.
      expect(await platform.entityStore.get('contact', 'demo', 'other-contact-0000001')).toBeNull();

      const second = await seedDemoAccount(platform);
      // The key is kept and reused, not printed again.
      expect(second).toEqual({ ...first, seededNow: false, apiKey: { file: keyFile, createdKey: null } });
    } finally {
      await platform.close();
    }
  });

  it('seeds every registered type, one added later included, with data its schema accepts', async () => {
    const registry: HandlerRegistry = { ...handlers, gadget: new GadgetHandler() };
    const config = loadConfig({ DATA_DIR: path.join(dir, 'platform'), LOG_LEVEL: 'silent' });
    const platform = await buildPlatform(config, { logger: pino({ level: 'silent' }), handlers: registry });
    try {
      const demo = await seedDemoAccount(platform);
      expect(demo.counts).toEqual(demoCounts(registry));
      expect(Object.keys(demo.counts)).toEqual(Object.keys(registry));
      expect(demo.counts.gadget).toBe(DEMO_COUNT_OTHER_TYPES);
      for (const [entityType, count] of Object.entries(demo.counts)) expect(count, entityType).toBeGreaterThan(0);

      const ids = Array.from({ length: DEMO_COUNT_OTHER_TYPES }, (_, i) => `gadget-${String(i + 1).padStart(7, '0')}`);
      const gadgets = await platform.entityStore.getMany('gadget', 'demo', ids);
      expect(gadgets).toHaveLength(DEMO_COUNT_OTHER_TYPES);
      const schema = new GadgetHandler().fields;
      const problems: string[] = [];
      for (const gadget of gadgets) {
        expect(Object.keys(gadget.data).sort()).toEqual(Object.keys(schema).filter((f) => f !== 'code').sort());
        for (const [field, spec] of Object.entries(schema)) {
          if (!Object.hasOwn(gadget.data, field)) continue;
          const problem = checkFieldValue(spec, gadget.data[field] as FieldValue);
          if (problem !== null) problems.push(`${gadget.id}.${field} = ${JSON.stringify(gadget.data[field])}: ${problem}`);
        }
      }
      expect(problems.slice(0, 5)).toEqual([]);
    } finally {
      await platform.close();
    }
  });
});
