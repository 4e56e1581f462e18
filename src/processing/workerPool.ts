import { Worker } from 'node:worker_threads';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { SCRAPE_TIMEOUT_MS, type PlatformMetrics } from '../observability/metrics';
import { collectThreadMetrics } from '../observability/threadMetrics';
import { releaseWriteLockOf } from '../adapters/sqlite/writeLock';
import type { StopOptions, Subscription } from '../queue/batchQueue';
import type { StopMessage, WorkerThreadData } from './workerThread';

const THREAD_ENTRY = new URL('./workerThreadEntry.mjs', import.meta.url);
const RESTART_DELAY_MS = 1000;
/** After a stop's timeout, how long a thread has to release its leases and close before it is terminated (ms). */
const STOP_GRACE_MS = 1000;

export interface WorkerPoolOptions {
  /** Tests: a thread entry that wraps the real one (./workerThreadEntry.mjs) to inject a fault. */
  threadEntry?: URL;
}

/**
 * How `concurrency` batches at once are spread over `threads` threads: as evenly as possible,
 * summing to exactly `concurrency` (3 over 2 threads is 2 + 1, never 2 + 2).
 */
export function spreadConcurrency(concurrency: number, threads: number): number[] {
  const n = Math.min(threads, concurrency);
  return Array.from({ length: n }, (_, i) => Math.floor(concurrency / n) + (i < concurrency % n ? 1 : 0));
}

/**
 * Embedded mode: runs `config.workerConcurrency` batch consumers in all, in at most
 * `config.workerThreads` threads, each thread with its own SQLite connection.
 *
 * A thread that dies (a handler calling process.exit, out of memory) is restarted after a second,
 * so capacity is not silently lost (logged at error each time); if it held the shared write lock,
 * the lock is released at once (see WriteLock), and SQLite has rolled its open transaction back.
 * Its replacement releases the batches it held before consuming (their deliveries counted), so
 * they come back within that second, not when their leases expire.
 *
 * `stop({ timeoutMs })` passes the deadline to every thread, which hands back the batches still
 * running at the deadline; a thread still alive `STOP_GRACE_MS` later (stuck in synchronous code)
 * is terminated, and its leases are released by the next process to open the data dir.
 */
export async function startWorkerPool(
  config: Config,
  logger: Logger,
  writeLockBuffer: SharedArrayBuffer,
  metrics?: PlatformMetrics,
  options: WorkerPoolOptions = {},
): Promise<Subscription> {
  const perThread = spreadConcurrency(config.workerConcurrency, config.workerThreads);
  let stopping = false;
  const workers = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();
  // The threads' counters appear on the main thread's /metrics, summed (src/observability/threadMetrics.ts).
  const threadMetrics = metrics ? collectThreadMetrics(metrics, () => workers, SCRAPE_TIMEOUT_MS) : null;

  // Per thread slot: threads that died there and whose leases no replacement has released yet.
  const deadThreadIds = perThread.map((): number[] => []);

  const spawn = (threadNo: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const inherited = [...deadThreadIds[threadNo]!];
      const data: WorkerThreadData = { config, concurrency: perThread[threadNo]!, threadNo, writeLockBuffer, deadThreadIds: inherited };
      const worker = new Worker(options.threadEntry ?? THREAD_ENTRY, { workerData: data });
      const { threadId } = worker; // -1 once it has exited
      workers.add(worker);
      worker.on('message', (m: { type: string }) => {
        if (m.type !== 'ready') return;
        deadThreadIds[threadNo] = deadThreadIds[threadNo]!.filter((id) => !inherited.includes(id)); // released by now
        resolve();
      });
      worker.on('error', (error) => {
        logger.error({ err: error, thread: threadNo }, 'worker thread failed');
        reject(error);
      });
      worker.on('exit', (code) => {
        workers.delete(worker);
        threadMetrics?.retire(worker);
        if (releaseWriteLockOf(writeLockBuffer, threadId)) logger.error({ thread: threadNo, threadId }, 'worker thread exited holding the SQLite write lock; released it');
        if (stopping) return;
        deadThreadIds[threadNo]!.push(threadId);
        logger.error({ thread: threadNo, threadId, code }, 'worker thread exited; restarting it');
        const restart = setTimeout(() => {
          restarts.delete(restart);
          if (!stopping) spawn(threadNo).catch((error: unknown) => logger.error({ err: error, thread: threadNo }, 'worker thread restart failed'));
        }, RESTART_DELAY_MS);
        restarts.add(restart);
      });
    });

  await Promise.all(perThread.map((_, i) => spawn(i)));
  logger.info({ threads: perThread.length, concurrencyPerThread: perThread }, 'worker threads started');

  let stopped: Promise<void> | undefined;
  const stop = async ({ timeoutMs }: StopOptions) => {
    stopping = true;
    for (const restart of restarts) clearTimeout(restart);
    await Promise.all([...workers].map((worker) => stopThread(worker, timeoutMs, logger)));
  };
  return { stop: (stopOptions = {}) => (stopped ??= stop(stopOptions)) };
}

/** Asks one thread to stop within `timeoutMs`; terminates it if it is still alive STOP_GRACE_MS after that. */
function stopThread(worker: Worker, timeoutMs: number | undefined, logger: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const terminator =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            logger.error({ threadId: worker.threadId, timeoutMs }, 'worker thread did not stop by the deadline; terminating it');
            void worker.terminate();
          }, timeoutMs + STOP_GRACE_MS);
    worker.once('exit', () => {
      clearTimeout(terminator);
      resolve();
    });
    const message: StopMessage = { type: 'stop', timeoutMs };
    worker.postMessage(message);
  });
}
