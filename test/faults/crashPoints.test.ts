import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { loadConfig } from '../../src/config';
import { crashHooks, parseCrashSetting, withCrashOnWrite, type CrashPoint } from '../../src/processing/crashPoints';

/** The FAULT_CRASH_AT hook itself: parsing, counting, and the entity-by-entity write it arms. */
describe('FAULT_CRASH_AT', () => {
  it('is off by default and parses <point> and <point>:<n>', () => {
    expect(loadConfig({}).faultCrashAt).toBeNull();
    expect(loadConfig({ FAULT_CRASH_AT: 'outcomesRecorded' }).faultCrashAt).toEqual({ point: 'outcomesRecorded', count: 1 });
    expect(loadConfig({ FAULT_CRASH_AT: 'entityWritten:500' }).faultCrashAt).toEqual({ point: 'entityWritten', count: 500 });
  });

  it.each(['nowhere', 'batchSettled:0', 'batchSettled:x', 'batchSettled:1:2'])('refuses "%s" with the list of points', (raw) => {
    expect(() => loadConfig({ FAULT_CRASH_AT: raw })).toThrow(/FAULT_CRASH_AT must be .* one of actionStored, entityWritten, outcomesRecorded, batchFinished, batchSettled/);
    expect(typeof parseCrashSetting(raw)).toBe('string');
  });

  it('arms only the named hook, and kills on the n-th pass', () => {
    expect(crashHooks(null)).toEqual({});
    const kills: [CrashPoint, number][] = [];
    const hooks = crashHooks({ point: 'batchFinished', count: 3 }, (point, passes) => kills.push([point, passes]));
    expect(Object.keys(hooks)).toEqual(['afterBatchFinished']);
    hooks.afterBatchFinished!();
    hooks.afterBatchFinished!();
    expect(kills).toEqual([]);
    hooks.afterBatchFinished!();
    expect(kills).toEqual([['batchFinished', 3]]);
  });

  describe('entityWritten', () => {
    let dir: string;
    let db: SqliteDatabase;
    afterEach(() => {
      db?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('leaves the store alone unless armed, and then writes entity by entity, dying right after the k-th', async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crash-points-'));
      db = openDatabase(path.join(dir, 'test.db'));
      const store = new SqliteEntityStore(db, () => undefined);
      expect(withCrashOnWrite(store, null)).toBe(store);
      expect(withCrashOnWrite(store, { point: 'outcomesRecorded', count: 1 })).toBe(store);

      const ids = ['a', 'b', 'c', 'd', 'e'];
      await store.insertMany('contact', 'acme', ids.map((id) => ({ id, data: { title: 'old' } })), 1);
      class Killed extends Error {}
      const crashing = withCrashOnWrite(store, { point: 'entityWritten', count: 3 }, () => {
        throw new Killed(); // stands in for SIGKILL: nothing after this point runs
      });
      await expect(crashing.updateMany('contact', 'acme', [...ids, 'missing'], { title: 'new' }, 2)).rejects.toBeInstanceOf(Killed);
      const titles = await Promise.all(ids.map(async (id) => (await store.get('contact', 'acme', id))?.data.title));
      expect(titles).toEqual(['new', 'new', 'new', 'old', 'old']);
    });
  });
});
