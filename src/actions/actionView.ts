import type { ActionStatus, BulkAction, FieldUpdates, Progress } from '../types/entities';

/** A bulk action as clients see it: times as ISO-8601 strings, null while they have not happened. */
export interface ActionView {
  id: string;
  accountId: string;
  entityType: string;
  status: ActionStatus;
  fieldsToUpdate: FieldUpdates;
  totalEntities: number;
  createdAt: string;
  scheduledAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  progress: Progress;
}

/** The action as GET /api/bulk-actions/:id and the create's 202 show it. */
export function actionView(action: BulkAction): ActionView {
  return {
    id: action.id,
    accountId: action.accountId,
    entityType: action.entityType,
    status: action.status,
    fieldsToUpdate: action.fieldsToUpdate,
    totalEntities: action.totalEntities,
    createdAt: new Date(action.createdAt).toISOString(),
    scheduledAt: isoOrNull(action.scheduledAt),
    startedAt: isoOrNull(action.startedAt),
    completedAt: isoOrNull(action.completedAt),
    progress: {
      processed: action.progress.processed,
      succeeded: action.progress.succeeded,
      failed: action.progress.failed,
      skipped: action.progress.skipped,
    },
  };
}

function isoOrNull(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

/** GET /api/bulk-actions/:id/stats: the spec's "statistics" of an action. */
export interface ActionStats {
  actionId: string;
  status: ActionStatus;
  total: number;
  processed: number;
  succeeded: number;
  failed: number;
  skipped: number;
  pending: number;
  /** Percent of `total` processed, two decimals. */
  progress: number;
  /**
   * Processing time (ms): the time during which some batch of the action was being processed, by
   * the batches finished so far (`BulkAction.processingMs`). Downtime (a crash, a restart) and
   * retry backoffs do not count. Null before the action starts.
   */
  durationMs: number | null;
  /**
   * Entities the batches worked on per second of `durationMs`: every outcome except the
   * DUPLICATE_ID repeats, which are recorded without touching anything. 0 while durationMs is 0.
   */
  entitiesPerSecond: number;
  errorsByCode: Record<string, number>;
}

/** Statistics of an action, read together with its per-code counts. */
export function statsOf(action: BulkAction, errorsByCode: Record<string, number>): ActionStats {
  const { processed, succeeded, failed, skipped } = action.progress;
  const total = action.totalEntities;
  const durationMs = action.startedAt === null ? null : action.processingMs;
  const worked = processed - (errorsByCode.DUPLICATE_ID ?? 0);
  return {
    actionId: action.id,
    status: action.status,
    total,
    processed,
    succeeded,
    failed,
    skipped,
    pending: total - processed,
    progress: total === 0 ? 100 : Math.floor((processed / total) * 10_000) / 100,
    durationMs,
    entitiesPerSecond: durationMs ? Math.round((worked / durationMs) * 1000) : 0,
    errorsByCode,
  };
}
