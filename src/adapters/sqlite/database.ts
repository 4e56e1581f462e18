import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WriteLock } from './writeLock';

/**
 * A connection, and the ways to write through it. `writeLocked` serialises writers across threads;
 * `writeTransaction` also opens the transaction IMMEDIATE, so a read-then-write transaction takes
 * the write lock up front instead of failing with SQLITE_BUSY_SNAPSHOT when another process
 * (npm run seed) commits between its read and its write.
 */
export type SqliteDatabase = Database.Database & {
  writeLocked<T>(write: () => T): T;
  writeTransaction<T>(write: () => T): T;
};

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * Opens (creating if needed) the platform's SQLite file and brings its schema up to date.
 * WAL lets readers (the API's status queries) run while a batch writes; synchronous=NORMAL in WAL
 * keeps every commit atomic and durable across a process crash (only an OS crash can lose the last commits).
 */
export function openDatabase(file: string, options: { writeLock?: WriteLock } = {}): SqliteDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const lock = options.writeLock ?? new WriteLock();
  const raw = new Database(file);
  const db = Object.assign(raw, {
    writeLocked: <T>(write: () => T): T => lock.run(write),
    writeTransaction: <T>(write: () => T): T => lock.run(() => raw.transaction(write).immediate()),
  });
  // Only takes on a file with no table yet (a new one), and only before WAL is set: such a file
  // can give the pages the retention purge frees back to the file system (migration 005).
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  db.pragma('cache_size = -131072'); // 128 MiB of page cache
  db.pragma('temp_store = MEMORY');
  migrate(db);
  return db;
}

/** Applies numbered migrations (NNN_name.sql) above the file's user_version, each in its own transaction. */
export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const files = fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{3}_.+\.sql$/.test(f)).sort();
  for (const file of files) {
    const version = Number(file.slice(0, 3));
    if (version <= current) continue;
    const sql = fs.readFileSync(path.join(MIGRATIONS_DIR, file), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    })();
  }
}
