import type { BatchQueue, Subscription } from '../queue/batchQueue';
import { toError } from '../errors';
import { ActionNotStoredYet, processBatch, type ProcessingDeps } from './processBatch';

/**
 * Starts `concurrency` batch consumers on the queue. A batch whose processing throws (the job store
 * is unreachable, say) is handed back to the queue and delivered again; its recorded outcomes stay.
 * When a batch finishes its action, the action's leftover batches are purged (temporary data).
 */
export function startWorkers(deps: ProcessingDeps, queue: BatchQueue, concurrency: number): Promise<Subscription> {
  const withCleanup: ProcessingDeps = {
    ...deps,
    onActionFinished: async (action) => {
      await queue.purge(action.id);
      deps.logger.info({ actionId: action.id, status: action.status, progress: action.progress }, 'bulk action finished');
      await deps.onActionFinished?.(action);
    },
  };
  return queue.consume(async (batch, delivery) => {
    try {
      await processBatch(withCleanup, batch, delivery);
    } catch (thrown) {
      const error = toError(thrown);
      if (error instanceof ActionNotStoredYet) deps.logger.debug({ actionId: batch.actionId }, error.message);
      else deps.logger.error({ err: error, actionId: batch.actionId, batchNo: batch.batchNo }, 'batch handed back to the queue');
      throw error;
    }
  }, { concurrency, onError: (error) => deps.logger.error({ err: error }, 'batch queue error; consuming goes on') });
}
