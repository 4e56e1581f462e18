import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openDatabase, type SqliteDatabase } from '../../src/adapters/sqlite/database';

/**
 * openDatabase's busyPollMs (what the create thread uses): a write that finds another process
 * holding SQLite's write lock retries every few ms until it gets it, instead of failing or
 * sleeping in SQLite's busy handler, and a write that fails for another reason is not retried.
 */
let dir: string;
let file: string;
let db: SqliteDatabase;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busy-poll-'));
  file = path.join(dir, 'bulk-actions.db');
  db = openDatabase(file, { busyPollMs: 1 });
  db.exec('CREATE TABLE probe (n INTEGER NOT NULL)');
});

afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Another process that takes the write lock, says "held", keeps it `ms`, then commits a row and exits. */
function holdWriteLock(ms: number): Promise<{ held: Promise<void>; exited: Promise<number | null> }> {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(file)});
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO probe (n) VALUES (1)').run();
    process.stdout.write('held\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});
    db.exec('COMMIT');
    db.close();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const held = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return Promise.resolve({ held, exited });
}

it('a write waits for another process to commit, then is made (after it, in order)', async () => {
  // SQLite's own handler gives up after 1 ms: the wait below is the poll's, not its growing sleeps.
  expect(db.pragma('busy_timeout', { simple: true })).toBe(1);
  const other = await holdWriteLock(300);
  await other.held;
  db.writeTransaction(() => db.prepare('INSERT INTO probe (n) VALUES (2)').run());
  db.writeLocked(() => db.prepare('INSERT INTO probe (n) VALUES (3)').run());
  expect(await other.exited).toBe(0);
  expect(db.prepare('SELECT n FROM probe ORDER BY rowid').pluck().all()).toEqual([1, 2, 3]);
});

it('a write that fails for another reason is not retried', () => {
  let tries = 0;
  expect(() =>
    db.writeTransaction(() => {
      tries++;
      db.prepare('INSERT INTO probe (n) VALUES (NULL)').run();
    }),
  ).toThrow(/NOT NULL/);
  expect(tries).toBe(1);
});
