import { Worker } from 'node:worker_threads';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import { SCRAPE_TIMEOUT_MS, type PlatformMetrics } from '../observability/metrics';
import { collectThreadMetrics } from '../observability/threadMetrics';
import type { Subscription } from '../queue/batchQueue';
import type { WorkerThreadData } from './workerThread';

const THREAD_ENTRY = new URL('./workerThreadEntry.mjs', import.meta.url);
const RESTART_DELAY_MS = 1000;

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
 * A thread that dies is restarted; the batch it held comes back when its lease expires.
 */
export async function startWorkerPool(config: Config, logger: Logger, writeLockBuffer: SharedArrayBuffer, metrics?: PlatformMetrics): Promise<Subscription> {
  const perThread = spreadConcurrency(config.workerConcurrency, config.workerThreads);
  let stopping = false;
  const workers = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();
  // The threads' counters appear on the main thread's /metrics, summed (src/observability/threadMetrics.ts).
  const threadMetrics = metrics ? collectThreadMetrics(metrics, () => workers, SCRAPE_TIMEOUT_MS) : null;

  const spawn = (threadNo: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const data: WorkerThreadData = { config, concurrency: perThread[threadNo]!, threadNo, writeLockBuffer };
      const worker = new Worker(THREAD_ENTRY, { workerData: data });
      workers.add(worker);
      worker.on('message', (m: { type: string }) => m.type === 'ready' && resolve());
      worker.on('error', (error) => {
        logger.error({ err: error, thread: threadNo }, 'worker thread failed');
        reject(error);
      });
      worker.on('exit', (code) => {
        workers.delete(worker);
        threadMetrics?.retire(worker);
        if (stopping) return;
        logger.error({ thread: threadNo, code }, 'worker thread exited; restarting');
        const restart = setTimeout(() => {
          restarts.delete(restart);
          if (!stopping) spawn(threadNo).catch((error: unknown) => logger.error({ err: error, thread: threadNo }, 'worker thread restart failed'));
        }, RESTART_DELAY_MS);
        restarts.add(restart);
      });
    });

  await Promise.all(perThread.map((_, i) => spawn(i)));
  logger.info({ threads: perThread.length, concurrencyPerThread: perThread }, 'worker threads started');

  return {
    stop: async () => {
      stopping = true;
      for (const restart of restarts) clearTimeout(restart);
      await Promise.all(
        [...workers].map(
          (worker) =>
            new Promise<void>((resolve) => {
              worker.once('exit', () => resolve());
              worker.postMessage({ type: 'stop' });
            }),
        ),
      );
    },
  };
}
