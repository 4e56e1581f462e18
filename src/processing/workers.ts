import { toError } from '../errors';
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
  return queue.consume(async (batch, delivery) => {
    try {
      return await processBatch(withLog, batch, delivery);
    } catch (thrown) {
      // The one place a handed-back batch is reported; the queue delivers it again after a backoff.
      const context = { err: toError(thrown), actionId: batch.actionId, batchNo: batch.batchNo, attempt: delivery.attempt };
      deps.logger.warn(context, 'batch handed back to the queue; it is delivered again after a backoff');
      throw thrown;
    }
  }, {
    concurrency,
    afterSettled: deps.faults?.afterBatchSettled,
    // The queue's own trouble (a lost channel, a payload that is not a batch): the adapter recovers
    // by itself, so this is a warning, not an error of the process.
    onError: (error) => deps.logger.warn({ err: error }, 'batch queue reported a problem; consuming goes on'),
  });
}
