import type { OutboxSettings } from '../config';
import { toError } from '../errors';
import type { Logger } from '../observability/logger';
import type { BatchQueue } from '../queue/batchQueue';
import type { JobStore } from '../store/jobStore';
import type { BatchMessage } from '../types/entities';

/**
 * The publishing half of the transactional outbox. The create path stores an action together with
 * its batch plan (`JobStore.insertAction`) and only then publishes the batches; a crash in between
 * leaves a stored, unpublished action, which the sweeper below publishes. A batch published twice
 * is harmless: outcomes are keyed by (action, seq) and batches are counted once per batchNo.
 */
export interface OutboxDeps {
  jobStore: JobStore;
  queue: BatchQueue;
  logger: Logger;
  now: () => number;
}

/** Publishes the batches (confirmed by the queue), then marks the action published. Throws what either throws. */
export async function publishAction(deps: OutboxDeps, actionId: string, batches: BatchMessage[]): Promise<void> {
  await deps.queue.publish(batches);
  await deps.jobStore.markPublished(actionId);
}

export interface OutboxSweeper {
  /** One pass: publishes every action older than the grace period that is still unpublished. Returns how many. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

/** Actions one pass looks at; a backlog larger than this is worked off over the next passes. */
const ACTIONS_PER_SWEEP = 100;

/**
 * One sweeper pass: publishes the actions stored more than `graceMs` ago and never marked
 * published (at most ACTIONS_PER_SWEEP), and returns how many. An action that fails is logged and
 * left for the next pass; `stopped` is asked between actions.
 */
export async function publishUnpublished(deps: OutboxDeps, graceMs: number, stopped: () => boolean = () => false): Promise<number> {
  const ids = await deps.jobStore.listUnpublished(deps.now() - graceMs, ACTIONS_PER_SWEEP);
  let published = 0;
  for (const actionId of ids) {
    if (stopped()) break;
    try {
      await publishAction(deps, actionId, await deps.jobStore.batchPlan(actionId));
      published++;
      deps.logger.warn({ actionId }, 'outbox sweeper published the batches of an action whose create did not');
    } catch (thrown) {
      deps.logger.error({ err: toError(thrown), actionId }, 'outbox sweeper could not publish an action; next pass retries');
    }
  }
  return published;
}

/**
 * Every `sweepIntervalMs`, publishes the actions that were stored more than `graceMs` ago and never
 * marked published. Bound: an action whose create crashed before publishing is published at most
 * graceMs + sweepIntervalMs (+ one pass) after it was stored, as long as any process of the platform runs
 * (every role runs a sweeper; two sweepers publishing the same action only cause duplicates).
 * Failures are logged and retried on the next pass; they never stop the sweeper.
 */
export function startOutboxSweeper(deps: OutboxDeps, settings: OutboxSettings): OutboxSweeper {
  let running: Promise<number> | null = null;
  let stopped = false;

  const pass = () => publishUnpublished(deps, settings.graceMs, () => stopped);

  const sweep = (): Promise<number> => {
    // One pass at a time: a slow pass is not overlapped by the next tick.
    running ??= pass().finally(() => {
      running = null;
    });
    return running;
  };

  const timer = setInterval(() => {
    if (running) return; // the pass under way reports its own failure, once
    sweep().catch((thrown: unknown) => deps.logger.error({ err: toError(thrown) }, 'outbox sweep failed; next pass retries'));
  }, settings.sweepIntervalMs);
  timer.unref();

  return {
    sweep,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined); // already logged by the tick that started it
    },
  };
}
