import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { Config } from '../config';
import { handlers } from '../handlers/index';
import { createLogger } from '../observability/logger';
import { ProcessingMetrics } from '../observability/metrics';
import { answerMetricsRequests } from '../observability/threadMetrics';
import { leaseOwnerOfThread } from '../adapters/sqlite/sqliteBatchQueue';
import { WriteLock } from '../adapters/sqlite/writeLock';
import { openEmbeddedStores, retryPolicyOf } from '../platform';
import { crashHooks } from './crashPoints';
import { lowerThreadPriority } from './threadPriority';
import { startRetention } from '../actions/retention';
import { startWorkers } from './workers';

/**
 * Entry point of one worker thread: its own SQLite connection and its own batch consumers, so
 * synchronous database work never blocks the event loop that answers HTTP.
 */
export interface WorkerThreadData {
  config: Config;
  concurrency: number;
  threadNo: number;
  writeLockBuffer: SharedArrayBuffer;
  /** Threads of this pool that died (threadIds): their leases are released before this one consumes. */
  deadThreadIds: number[];
}

const { config, concurrency, threadNo, writeLockBuffer, deadThreadIds } = workerData as WorkerThreadData;
const logger = createLogger(config.logLevel).child({ thread: threadNo });
lowerThreadPriority(config.backgroundThreadNice, logger);
// This thread's counters; the main thread asks for them on every scrape of /metrics.
const metrics = new ProcessingMetrics();
answerMetricsRequests(parentPort!, metrics.registry);
// Batches other threads publish are not seen in-process: a short poll picks them up.
const stores = openEmbeddedStores(config, handlers, {
  queue: { pollMs: 50, leaseOwner: leaseOwnerOfThread(threadId) },
  writeLock: new WriteLock(writeLockBuffer, { timeoutMs: config.lifecycle.writeLockTimeoutMs }),
});
// A predecessor's batches come back now rather than when their leases expire.
for (const dead of deadThreadIds) {
  const released = stores.queue.releaseLeasesOf(leaseOwnerOfThread(dead), `its worker thread (${dead}) exited`);
  if (released > 0) logger.warn({ released, deadThreadId: dead }, 'released the batches of a worker thread that exited');
}
const subscription = await startWorkers(
  { jobStore: stores.jobStore, entityStore: stores.entityStore, handlers, retry: retryPolicyOf(config), logger, now: Date.now, faults: crashHooks(config.faultCrashAt) },
  stores.queue,
  concurrency,
  metrics,
);
parentPort!.postMessage({ type: 'ready' });
// The embedded retention purge runs here, off the API's event loop, in one thread per data dir.
const retention = threadNo === 0 ? startRetention({ jobStore: stores.jobStore, logger, now: Date.now }, config.retention) : null;

/** From the pool: stop taking batches, hand back what is still running after `timeoutMs` (the process's shutdown deadline). */
export interface StopMessage {
  type: 'stop';
  timeoutMs?: number;
}

parentPort!.on('message', (message: { type: string }) => {
  if (message.type !== 'stop') return;
  void (async () => {
    await subscription.stop({ timeoutMs: (message as StopMessage).timeoutMs });
    await retention?.stop();
    await stores.close();
    parentPort!.postMessage({ type: 'stopped' });
    parentPort!.close();
    // A consumer call abandoned at the deadline may still wait on a timer or a socket: end the thread now.
    process.exit(0);
  })();
});
