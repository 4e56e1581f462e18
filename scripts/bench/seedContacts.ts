import path from 'node:path';
import { openDatabase } from '../../src/adapters/sqlite/database';
import { SqliteEntityStore } from '../../src/adapters/sqlite/sqliteEntityStore';
import { handlerFor, handlers } from '../../src/handlers/index';
import { DATABASE_FILE } from '../../src/platform';
import { seedEntities } from '../../src/seeding/generateEntities';

/**
 * Seeds `count` contacts (IDs `contact-0000001`...) of `accountId` into a new embedded data dir and
 * returns their IDs. The WAL is checkpointed into the main file, so copying that one file copies the data.
 */
export async function seedContacts(dir: string, accountId: string, count: number, options: { duplicateEmailRate?: number } = {}): Promise<string[]> {
  const db = openDatabase(path.join(dir, DATABASE_FILE));
  const store = new SqliteEntityStore(db, (t) => handlerFor(handlers, t)?.dedupeKey);
  const ids: string[] = [];
  await seedEntities(store, 'contact', accountId, count, {
    idPrefix: 'contact-',
    duplicateEmailRate: options.duplicateEmailRate ?? 0,
    idSink: (chunk) => ids.push(...chunk),
  });
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return ids;
}
