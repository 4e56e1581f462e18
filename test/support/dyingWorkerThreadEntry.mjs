// A worker-pool thread entry for tests: the real worker thread (src/processing/workerThread.ts),
// with one fault injected at a named point: the first thread of the pool to claim a batch (it
// creates a marker file in the data dir, exclusively) calls process.exit(7) inside its next write
// under the shared write lock, that is while holding it, in the middle of that batch. Only once
// per data dir, so its replacement runs normally. Used through startWorkerPool's `threadEntry`.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { WriteLock } = await import('../../src/adapters/sqlite/writeLock.ts');

const marker = path.join(workerData.config.dataDir, 'a-thread-died-holding-the-write-lock');
const isClaimedBatch = (result) => typeof result === 'object' && result !== null && 'payload' in result && 'deliveries' in result;
let armed = false;
const run = WriteLock.prototype.run;
WriteLock.prototype.run = function (write) {
  return run.call(this, () => {
    if (armed) process.exit(7);
    const result = write();
    if (isClaimedBatch(result) && !fs.existsSync(marker)) {
      try {
        fs.writeFileSync(marker, String(workerData.threadNo), { flag: 'wx' });
        armed = true;
      } catch {
        // another thread claimed first: it is the one that dies
      }
    }
    return result;
  });
};
await import('../../src/processing/workerThread.ts');
