import { performance } from 'node:perf_hooks';
import { toError } from '../errors';
import type { BatchObservation, ProcessingMetrics } from '../observability/metrics';
import type { BatchQueue, Subscription } from '../queue/batchQueue';
import type { JobStore } from '../store/jobStore';
import { processBatch, type ProcessingDeps } from './processBatch';

/**
 * Starts `concurrency` batch consumers on the queue. A batch whose processing throws (the job store
 * is unreachable, say) goes back to the queue, which delivers it again after a backoff; what it
 * recorded stays. Runs the same in both modes: only the queue and store adapters differ.
 * With `metrics`, every delivery is reported once (its outcomes, time and verdict).
 */
export function startWorkers(deps: ProcessingDeps, queue: BatchQueue, concurrency: number, metrics?: ProcessingMetrics): Promise<Subscription> {
  const withLog: ProcessingDeps = {
    ...deps,
    onActionFinished: async (action) => {
      deps.logger.info({ actionId: action.id, status: action.status, progress: action.progress }, 'bulk action finished');
      await deps.onActionFinished?.(action);
    },
  };
  return queue.consume(async (batch, delivery) => {
    const started = performance.now();
    const outcomes: BatchObservation['outcomes'][number][] = [];
    let result: BatchObservation['result'] = 'retry';
    try {
      const verdict = await processBatch(metrics ? { ...withLog, jobStore: tallyingOutcomes(deps.jobStore, outcomes) } : withLog, batch, delivery);
      result = verdict;
      return verdict;
    } catch (thrown) {
      // The one place a handed-back batch is reported; the queue delivers it again after a backoff.
      const context = { err: toError(thrown), actionId: batch.actionId, batchNo: batch.batchNo, attempt: delivery.attempt };
      deps.logger.warn(context, 'batch handed back to the queue; it is delivered again after a backoff');
      throw thrown;
    } finally {
      // The message's type only names a label if it is registered: a forged one cannot grow the series.
      const entityType = Object.hasOwn(deps.handlers, batch.entityType) ? batch.entityType : 'unknown';
      metrics?.observeBatch({ entityType, outcomes, seconds: (performance.now() - started) / 1000, result });
    }
  }, {
    concurrency,
    afterSettled: deps.faults?.afterBatchSettled,
    // The queue's own trouble (a lost channel, a payload that is not a batch): the adapter recovers
    // by itself, so this is a warning, not an error of the process.
    onError: (error, about) => deps.logger.warn({ err: error, ...about }, 'batch queue reported a problem; consuming goes on'),
  });
}

/**
 * The job store as one delivery sees it: every outcome it hands to `recordOutcomes` (on every path
 * processBatch takes) is also pushed to `into`, once stored. So metrics count outcomes as they are
 * decided, without a second read of the store. A position two deliveries race for is counted by
 * both; the action's own counters stay exact.
 */
function tallyingOutcomes(jobStore: JobStore, into: BatchObservation['outcomes'][number][]): JobStore {
  return new Proxy(jobStore, {
    get(target, property) {
      if (property === 'recordOutcomes') {
        return async (...args: Parameters<JobStore['recordOutcomes']>): ReturnType<JobStore['recordOutcomes']> => {
          const recorded = await target.recordOutcomes(...args);
          for (const o of args[1]) into.push(o);
          return recorded;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
