import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/sqlite/database';
import { SqliteJobStore } from '../../src/adapters/sqlite/sqliteJobStore';
import { DATABASE_FILE } from '../../src/platform';
import type { BatchRef } from '../../src/store/jobStore';
import { makeAction, makeNewAction, makeOutcomes } from '../support/fixtures';
import { freePort, startServer, until, type ServerProcess } from '../support/serverProcess';
import { authHeader } from '../support/apiHelpers';

/**
 * RETENTION_DAYS in a real `npm start`: the purge runs by itself, in worker thread 0 or, without
 * worker threads, on the main thread, and an action that finished long ago answers 404.
 */
const DAY = 86_400_000;
let server: ServerProcess | undefined;
let dataDir: string;

afterEach(async () => {
  await server?.kill('SIGKILL');
  server = undefined;
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** A data dir holding one action that finished 40 days ago and one that finished now; their ids. */
async function dataDirWithActions(): Promise<{ old: string; young: string }> {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-retention-'));
  const db = openDatabase(path.join(dataDir, DATABASE_FILE));
  const store = new SqliteJobStore(db);
  const ids: string[] = [];
  for (const finishedAt of [Date.now() - 40 * DAY, Date.now()]) {
    const action = makeAction({ totalEntities: 3, createdAt: finishedAt - 1_000 });
    await store.insertAction(makeNewAction(action), null);
    await store.recordOutcomes(action.id, makeOutcomes([0, 1, 2]), finishedAt);
    const ref = { batchNo: 0, seqs: [0, 1, 2], startedAt: finishedAt - 500 };
    expect((await store.finishBatch(action.id, ref as BatchRef, finishedAt))?.status).toBe('COMPLETED');
    ids.push(action.id);
  }
  db.close();
  return { old: ids[0]!, young: ids[1]! };
}

describe('npm start purges what finished before RETENTION_DAYS', () => {
  it.each([['in worker thread 0', '2'], ['on the main thread without worker threads', '0']])('%s', async (_label, threads) => {
    const { old, young } = await dataDirWithActions();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = startServer({
      MONGODB_URL: '', RABBITMQ_URL: '', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info',
      DEMO_DATA: 'false', WORKER_THREADS: threads, RETENTION_DAYS: '30', RETENTION_INTERVAL_MS: '1000',
    });
    const output = () => server!.output();
    // The first pass runs one interval after start.
    await until('the old action purged', async () => ((await fetch(`${base}/api/bulk-actions/${old}`, { headers: authHeader() })).status === 404 ? true : undefined), 30_000, output);
    expect((await fetch(`${base}/api/bulk-actions/${young}`, { headers: authHeader() })).status).toBe(200);
    await until('the pass logged', async () => (output().includes('retention: purged') ? true : undefined), 10_000, output);
  });
});
