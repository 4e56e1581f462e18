import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';
import { SqliteApiKeyStore } from '../../src/adapters/sqlite/sqliteApiKeyStore';
import { SqliteBatchQueue } from '../../src/adapters/sqlite/sqliteBatchQueue';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { SqliteJobStore } from '../../src/adapters/sqlite/sqliteJobStore';
import { describeApiKeyStoreContract } from './apiKeyStore.contract';
import { describeBatchQueueContract } from './batchQueue.contract';
import { describeEntityStoreContract } from './entityStore.contract';
import { describeJobStoreContract } from './jobStore.contract';

/** A fresh SQLite file in its own temp dir; `remove` closes it and deletes the dir. */
function freshDatabase(): { db: SqliteDatabase; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-contract-'));
  const db = openDatabase(path.join(dir, 'test.db'));
  return {
    db,
    remove: () => {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describeApiKeyStoreContract('sqlite', async () => {
  const { db, remove } = freshDatabase();
  return { store: new SqliteApiKeyStore(db), cleanup: async () => remove() };
});

describeJobStoreContract('sqlite', async () => {
  const { db, remove } = freshDatabase();
  const store = new SqliteJobStore(db);
  return { store, cleanup: async () => { await store.close(); remove(); } };
});

describeEntityStoreContract('sqlite', async (dedupeFieldOf) => {
  const { db, remove } = freshDatabase();
  const store = new SqliteEntityStore(db, dedupeFieldOf);
  return { store, cleanup: async () => { await store.close(); remove(); } };
});

describeBatchQueueContract('sqlite', async (retry) => {
  const { db, remove } = freshDatabase();
  const queue = new SqliteBatchQueue(db, { retry, pollMs: 20 });
  return { queue, cleanup: async () => { await queue.close(); remove(); } };
});
