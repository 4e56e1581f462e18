import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The lock file: a tiny SQLite database whose exclusive lock is the data dir's. */
export const LOCK_FILE = 'bulk-actions.lock';
/** The holder's pid, written once it holds the lock: for the message a second process prints. */
export const HOLDER_FILE = 'bulk-actions.lock.pid';

const POLL_MS = 50;

/** Another process holds the data dir (and kept it for the whole wait, if there was one). */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    /** The holder's pid as it recorded it; null if it has not written it yet. */
    readonly holderPid: number | null,
    waitedMs: number,
  ) {
    const holder = holderPid === null ? 'another process' : `another process (pid ${holderPid})`;
    const waited = waitedMs > 0 ? ` after waiting ${waitedMs} ms` : '';
    super(
      `the data dir ${dataDir} is in use by ${holder}${waited}. One process owns an embedded data dir: ` +
        'stop the other one, or set DATA_DIR_LOCK_WAIT_MS to take over when it exits (a rolling restart).',
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  /** Lets the next process in. Idempotent. Exiting (a SIGKILL included) releases it too. */
  release(): void;
}

export interface LockDataDirOptions {
  /** How long to wait while another process holds it (ms); 0 fails at once. */
  waitMs: number;
  /** Called once, when the first attempt finds the dir held and `waitMs` > 0. */
  onWaiting?: (holderPid: number | null) => void;
}

/**
 * Takes the exclusive lock of an embedded data dir, before anything touches its database: one
 * process owns the file's queue leases, so a second `npm start` must not run beside the first
 * (it would release the live server's leases and claim its batches).
 *
 * The lock is an open `BEGIN EXCLUSIVE` transaction on `DATA_DIR/bulk-actions.lock`: SQLite's
 * file lock (fcntl on Unix, LockFileEx on Windows), which the kernel drops when the process dies,
 * however it dies, so there is never a stale lock to clean up. No other connection can take it,
 * in this process or another. The holder's pid goes in `bulk-actions.lock.pid`, for the message.
 * Waiting is polled (every 50 ms) rather than left to SQLite's busy handler, which would block
 * the event loop.
 *
 * `npm run seed` does not take it: it writes only entities, beside a running server (WAL and
 * busy_timeout keep both safe), as the README's quick start shows.
 *
 * Rejects with DataDirLockedError when the dir stays held for `waitMs`.
 */
export async function lockDataDir(dataDir: string, options: LockDataDirOptions): Promise<DataDirLock> {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, LOCK_FILE));
  const started = Date.now();
  let announced = false;
  try {
    db.pragma('busy_timeout = 0');
    for (;;) {
      if (tryBeginExclusive(db)) break;
      const waited = Date.now() - started;
      if (waited >= options.waitMs) throw new DataDirLockedError(dataDir, holderPid(dataDir), options.waitMs > 0 ? waited : 0);
      if (!announced) {
        announced = true;
        options.onWaiting?.(holderPid(dataDir));
      }
      await sleep(Math.min(POLL_MS, options.waitMs - waited));
    }
  } catch (error) {
    db.close();
    throw error;
  }
  const holderFile = path.join(dataDir, HOLDER_FILE);
  fs.writeFileSync(holderFile, `${process.pid}\n`);
  let held = true;
  return {
    release: () => {
      if (!held) return;
      held = false;
      fs.rmSync(holderFile, { force: true });
      db.close(); // rolls the empty transaction back and drops the file lock
    },
  };
}

function tryBeginExclusive(db: Database.Database): boolean {
  try {
    db.exec('BEGIN EXCLUSIVE');
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return false;
    throw error;
  }
}

function holderPid(dataDir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, HOLDER_FILE), 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
