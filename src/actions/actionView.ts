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
  error: string | null;
}

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
    error: action.error,
  };
}

function isoOrNull(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}
