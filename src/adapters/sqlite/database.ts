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
/** How long a write waits for another process's write lock before it fails with SQLITE_BUSY (ms). */
const BUSY_TIMEOUT_MS = 10_000;

export interface OpenOptions {
  /** The lock this connection's writes take turns on with the process's other threads' connections. */
  writeLock?: WriteLock;
  /**
   * Wait for another process's write (npm run seed) by retrying every `busyPollMs` instead of with
   * SQLite's busy handler, whose sleeps grow to 100 ms: those miss the short gaps between another
   * process's transactions, so a writer waits through several of them. Reads of this connection
   * then wait only `busyPollMs` for the rare lock a reader meets in WAL mode. Default: the handler.
   */
  busyPollMs?: number;
}

/**
 * Opens (creating if needed) the platform's SQLite file and brings its schema up to date.
 * WAL lets readers (the API's status queries) run while a batch writes; synchronous=NORMAL in WAL
 * keeps every commit atomic and durable across a process crash (only an OS crash can lose the last commits).
 */
export function openDatabase(file: string, options: OpenOptions = {}): SqliteDatabase {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const lock = options.writeLock ?? new WriteLock();
  const raw = new Database(file);
  const { busyPollMs } = options;
  const patient = busyPollMs === undefined ? <T>(write: () => T) => write() : <T>(write: () => T) => retryWhileBusy(write, busyPollMs);
  const db = Object.assign(raw, {
    writeLocked: <T>(write: () => T): T => lock.run(() => patient(write)),
    writeTransaction: <T>(write: () => T): T => lock.run(() => patient(() => raw.transaction(write).immediate())),
  });
  // Only takes on a file with no table yet (a new one), and only before WAL is set: such a file
  // can give the pages the retention purge frees back to the file system (migration 005).
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${busyPollMs ?? BUSY_TIMEOUT_MS}`);
  db.pragma('cache_size = -131072'); // 128 MiB of page cache
  db.pragma('temp_store = MEMORY');
  migrate(db);
  return db;
}

/**
 * Runs `write` until it does not fail with SQLITE_BUSY, pausing `pollMs` between tries, for at most
 * BUSY_TIMEOUT_MS. Safe because a write that fails busy did nothing: every caller's write is one
 * statement or one IMMEDIATE transaction, which fails busy at its BEGIN and is rolled back.
 */
function retryWhileBusy<T>(write: () => T, pollMs: number): T {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return write();
    } catch (thrown) {
      const code = (thrown as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw thrown;
      Atomics.wait(PAUSE, 0, 0, pollMs);
    }
  }
}

/** Never notified: Atomics.wait on it is a synchronous sleep (this thread has nothing else to do while it waits). */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

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
