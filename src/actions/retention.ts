import type { Config, RetentionSettings } from '../config';
import { toError } from '../errors';
import type { Logger } from '../observability/logger';
import type { JobStore } from '../store/jobStore';

const DAY_MS = 86_400_000;

/** The first pass after start waits at most this long (ms), so a restart does not postpone purging by a whole interval. */
const FIRST_PASS_DELAY_MS = 30_000;

export interface RetentionDeps {
  jobStore: JobStore;
  logger: Logger;
  now: () => number;
}

/** What one purge pass did. */
export interface RetentionPass {
  /** Actions that finished before this time (epoch ms) were purged. */
  completedBefore: number;
  actionsRemoved: number;
  rowsDeleted: number;
  bytesReclaimed: number;
  slices: number;
  /** The longest single slice (ms): embedded, the longest any other write could have waited on the purge. */
  longestSliceMs: number;
  durationMs: number;
}

export interface RetentionJob {
  /**
   * Runs one pass now (or joins the pass under way): slices until the store has nothing left for
   * the cutoff, or the job is stopped. Throws what the store throws; the timer's passes log it.
   */
  runPass(): Promise<RetentionPass>;
  /** Stops the timer and waits for the slice under way, never for the rest of a pass. */
  stop(): Promise<void>;
}

/**
 * Where the purge runs, so that it runs beside processing and never on the API's event loop when
 * there is a choice: distributed, in every process that works batches (`worker`, `all`; the purge is
 * safe to run in several at once); embedded, in worker thread 0 (this returns false) unless
 * WORKER_THREADS=0, where the one event loop is all there is.
 */
export function retentionRunsInMainThread(config: Config): boolean {
  return config.distributed ? config.role !== 'api' : config.workerThreads === 0;
}

/**
 * The retention job (RETENTION_DAYS): every `intervalMs` after the previous pass ended, purges the
 * actions that finished more than `days` days ago, with their outcomes and leftovers, then gives
 * the space back (JobStore.purgeExpired). A pass is many short slices of at most `sliceRows` rows,
 * with `pauseMs` between them: embedded, each slice is one short SQLite write transaction, so the
 * API's writes and the batches wait at most one slice for the write lock, never a whole purge.
 * `days` = 0 turns it off. Failures are logged and retried at the next pass.
 */
export function startRetention(deps: RetentionDeps, settings: RetentionSettings): RetentionJob {
  let running: Promise<RetentionPass> | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let wakePause: (() => void) | null = null;

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wakePause = null;
        resolve();
      }, ms);
      wakePause = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const pass = async (): Promise<RetentionPass> => {
    const started = performance.now();
    const completedBefore = deps.now() - settings.days * DAY_MS;
    const total: RetentionPass = { completedBefore, actionsRemoved: 0, rowsDeleted: 0, bytesReclaimed: 0, slices: 0, longestSliceMs: 0, durationMs: 0 };
    if (settings.days === 0) return total;
    while (!stopped) {
      const sliceStarted = performance.now();
      const slice = await deps.jobStore.purgeExpired(completedBefore, settings.sliceRows);
      total.longestSliceMs = Math.max(total.longestSliceMs, performance.now() - sliceStarted);
      total.slices++;
      total.actionsRemoved += slice.actionsRemoved;
      total.rowsDeleted += slice.rowsDeleted;
      total.bytesReclaimed += slice.bytesReclaimed;
      if (slice.done) break;
      await pause(settings.pauseMs);
    }
    total.durationMs = performance.now() - started;
    return total;
  };

  const runPass = (): Promise<RetentionPass> => {
    running ??= pass().finally(() => {
      running = null;
    });
    return running;
  };

  const schedule = (delayMs: number) => {
    if (stopped || settings.days === 0) return;
    timer = setTimeout(() => {
      runPass()
        .then((done) => {
          if (done.rowsDeleted > 0 || done.bytesReclaimed > 0) {
            deps.logger.info({ retentionDays: settings.days, ...round(done) }, 'retention: purged finished actions older than the retention window');
          }
        })
        .catch((thrown: unknown) => deps.logger.error({ err: toError(thrown) }, 'retention pass failed; the next pass retries'))
        .finally(() => schedule(settings.intervalMs));
    }, delayMs);
    timer.unref();
  };
  schedule(Math.min(settings.intervalMs, FIRST_PASS_DELAY_MS));

  return {
    runPass,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      wakePause?.();
      await running?.catch(() => undefined); // a failing pass is logged by the tick that started it
    },
  };
}

function round(pass: RetentionPass): RetentionPass {
  return { ...pass, longestSliceMs: Math.round(pass.longestSliceMs * 100) / 100, durationMs: Math.round(pass.durationMs) };
}
