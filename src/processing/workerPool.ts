import { Worker } from 'node:worker_threads';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { Subscription } from '../queue/batchQueue';
import type { WorkerThreadData } from './workerThread';

const THREAD_ENTRY = new URL('./workerThreadEntry.mjs', import.meta.url);
const RESTART_DELAY_MS = 1000;

/**
 * Runs batch consumers in `config.workerThreads` threads, spreading `workerConcurrency` over them.
 * A thread that dies is restarted; the batch it held comes back when its lease expires.
 */
export async function startWorkerPool(config: Config, logger: Logger, writeLockBuffer: SharedArrayBuffer): Promise<Subscription> {
  const threads = Math.min(config.workerThreads, config.workerConcurrency);
  const concurrency = Math.ceil(config.workerConcurrency / threads);
  let stopping = false;
  const workers = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();

  const spawn = (threadNo: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const data: WorkerThreadData = { config, concurrency, threadNo, writeLockBuffer };
      const worker = new Worker(THREAD_ENTRY, { workerData: data });
      workers.add(worker);
      worker.on('message', (m: { type: string }) => m.type === 'ready' && resolve());
      worker.on('error', (error) => {
        logger.error({ err: error, thread: threadNo }, 'worker thread failed');
        reject(error);
      });
      worker.on('exit', (code) => {
        workers.delete(worker);
        if (stopping) return;
        logger.error({ thread: threadNo, code }, 'worker thread exited; restarting');
        const restart = setTimeout(() => {
          restarts.delete(restart);
          if (!stopping) spawn(threadNo).catch((error: unknown) => logger.error({ err: error, thread: threadNo }, 'worker thread restart failed'));
        }, RESTART_DELAY_MS);
        restarts.add(restart);
      });
    });

  await Promise.all(Array.from({ length: threads }, (_, i) => spawn(i)));
  logger.info({ threads, concurrencyPerThread: concurrency }, 'worker threads started');

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
