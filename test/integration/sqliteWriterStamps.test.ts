import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { writerStamp } from '../../src/store/entityStore';
import { T0 } from '../support/fixtures';

let dir: string | undefined;
let db: SqliteDatabase | undefined;
afterEach(() => {
  db?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** SQLite keeps stamps as 10-byte BLOBs; a file written by a build that kept them as text must not stop writes. */
it('treats a stamp stored as text (an earlier build) as no stamp, in the read and in the write', async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-stamps-'));
  db = openDatabase(path.join(dir, 'x.db'));
  const store = new SqliteEntityStore(db, () => undefined);
  await store.insertMany('contact', 'acct-a', [{ id: 'c1', data: { title: 'seeded' } }], T0);
  db.prepare("UPDATE entities SET writer = '9999999999999:zzz' WHERE id = 'c1'").run();
  expect((await store.getMany('contact', 'acct-a', ['c1']))[0]?.writer).toBeNull();

  const stamp = writerStamp(T0, 'action-a');
  expect((await store.updateMany('contact', 'acct-a', ['c1'], { title: 'written' }, T0 + 1, stamp)).written).toEqual(['c1']);
  expect((await store.getMany('contact', 'acct-a', ['c1']))[0]?.writer).toBe(stamp);
  expect(db.prepare("SELECT typeof(writer) AS t, length(writer) AS n FROM entities WHERE id = 'c1'").get()).toEqual({ t: 'blob', n: 10 });
});
