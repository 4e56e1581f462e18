// A test thread that uses the real WriteLock on a real SQLite file, in one of three roles:
// - 'die-holding': takes the lock, opens a write transaction, inserts a row, reports 'holding'
//   (control[0] = 1) and, once told to (control[1] = 1), calls process.exit(7) while holding both;
// - 'hang-holding': takes the lock and blocks until terminated;
// - 'writer': inserts a row under the lock and posts 'wrote', or 'timeout' with the error.
// workerData: { role, file, lockBuffer, control (SharedArrayBuffer of 2 Int32), timeoutMs, row }.
import { register } from 'tsx/esm/api';
import process from 'node:process';
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';

register();
const { WriteLock, WriteLockTimeoutError } = await import('../../src/adapters/sqlite/writeLock.ts');
const Database = createRequire(import.meta.url)('better-sqlite3');

const { role, file, lockBuffer, control, timeoutMs, row } = workerData;
const lock = new WriteLock(lockBuffer, { timeoutMs });
const db = new Database(file);
db.pragma('busy_timeout = 10000');
const ctl = new Int32Array(control);

if (role === 'die-holding') {
  lock.run(() => {
    db.exec('BEGIN IMMEDIATE');
    db.prepare('INSERT INTO t (row) VALUES (?)').run(row);
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    Atomics.wait(ctl, 1, 0); // until the test says die
    process.exit(7);
  });
} else if (role === 'hang-holding') {
  lock.run(() => {
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    Atomics.wait(ctl, 1, 0); // nobody sets it: until terminate()
  });
} else if (role === 'writer') {
  parentPort.postMessage({ type: 'waiting' });
  try {
    lock.run(() => db.prepare('INSERT INTO t (row) VALUES (?)').run(row));
    parentPort.postMessage({ type: 'wrote' });
  } catch (error) {
    if (!(error instanceof WriteLockTimeoutError)) throw error;
    parentPort.postMessage({ type: 'timeout', message: error.message, holderThreadId: error.holderThreadId });
  }
  db.close();
}
