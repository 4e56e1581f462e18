import type { BatchQueue, Subscription } from '../queue/batchQueue';
import { processBatch, type ProcessingDeps } from './processBatch';

/**
 * Starts `concurrency` batch consumers on the queue. A batch whose processing throws (the job store
 * is unreachable, say) goes back to the queue, which delivers it again after a backoff; what it
 * recorded stays. Runs the same in both modes: only the queue and store adapters differ.
 */
export function startWorkers(deps: ProcessingDeps, queue: BatchQueue, concurrency: number): Promise<Subscription> {
  const withLog: ProcessingDeps = {
    ...deps,
    onActionFinished: async (action) => {
      deps.logger.info({ actionId: action.id, status: action.status, progress: action.progress }, 'bulk action finished');
      await deps.onActionFinished?.(action);
    },
  };
  return queue.consume((batch, delivery) => processBatch(withLog, batch, delivery), {
    concurrency,
    onError: (error) => deps.logger.error({ err: error }, 'batch queue error; consuming goes on'),
  });
}
