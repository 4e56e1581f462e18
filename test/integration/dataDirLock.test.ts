import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir, type DataDirLock } from '../../src/adapters/sqlite/dataDirLock';

/**
 * The data dir's lock on a real file. Across processes (SIGKILL included) it is tested end to end
 * in test/e2e/lifecycle.test.ts; here two holders in one process, which SQLite keeps apart too.
 */
let dir: string;
const held: DataDirLock[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'data-dir-lock-'));
});
afterEach(() => {
  for (const lock of held.splice(0)) lock.release();
  fs.rmSync(dir, { recursive: true, force: true });
});

const take = async (waitMs = 0, onWaiting?: (pid: number | null) => void) => {
  const lock = await lockDataDir(dir, { waitMs, onWaiting });
  held.push(lock);
  return lock;
};

describe('lockDataDir', () => {
  it('refuses a second holder at once, naming the dir and the holder\'s pid', async () => {
    await take();
    const second = take().catch((error: unknown) => error);
    const error = await second;
    expect(error).toBeInstanceOf(DataDirLockedError);
    expect((error as DataDirLockedError).holderPid).toBe(process.pid);
    expect((error as Error).message).toBe(
      `the data dir ${dir} is in use by another process (pid ${process.pid}). One process owns an embedded data dir: ` +
        'stop the other one, or set DATA_DIR_LOCK_WAIT_MS to take over when it exits (a rolling restart).',
    );
  });

  it('lets a waiting holder in once the first releases it, and says it is waiting', async () => {
    const first = await take();
    const waitingFor: (number | null)[] = [];
    const second = take(10_000, (pid) => waitingFor.push(pid));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(waitingFor).toEqual([process.pid]);
    first.release();
    first.release(); // idempotent
    await second;
    expect(fs.readFileSync(path.join(dir, 'bulk-actions.lock.pid'), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('gives up after its wait, saying how long it waited', async () => {
    await take();
    await expect(take(150)).rejects.toThrow(/is in use by another process \(pid \d+\) after waiting \d+ ms/);
  });

  it('creates the data dir if needed', async () => {
    const nested = path.join(dir, 'a', 'b');
    held.push(await lockDataDir(nested, { waitMs: 0 }));
    expect(fs.existsSync(path.join(nested, 'bulk-actions.lock'))).toBe(true);
  });
});
