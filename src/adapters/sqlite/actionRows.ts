import { busyMs } from '../../store/busyTime';
import type { ActionStatus, BulkAction, FieldUpdates } from '../../types/entities';

/** The actions table's row, and its mapping to and from BulkAction. */
export interface ActionRow {
  no: number;
  id: string;
  account_id: string;
  entity_type: string;
  status: ActionStatus;
  fields_to_update: string;
  total_entities: number;
  processed: number;
  succeeded: number;
  failed: number;
  skipped: number;
  created_at: number;
  scheduled_at: number | null;
  started_at: number | null;
  completed_at: number | null;
  /** Processing time: closed spans (ms) and the open span (epoch ms); see src/store/busyTime.ts. */
  busy_ms: number;
  busy_since: number;
  busy_until: number;
  batch_count: number;
  published: number;
  payload_hash: string;
  idempotency_key: string | null;
  creation_response: string;
}

export const ACTION_COLUMNS = [
  'id', 'account_id', 'entity_type', 'status', 'fields_to_update', 'total_entities', 'processed', 'succeeded',
  'failed', 'skipped', 'created_at', 'scheduled_at', 'started_at', 'completed_at',
] as const;

export function actionParams(a: BulkAction): unknown[] {
  const p = a.progress;
  return [
    a.id, a.accountId, a.entityType, a.status, JSON.stringify(a.fieldsToUpdate), a.totalEntities, p.processed,
    p.succeeded, p.failed, p.skipped, a.createdAt, a.scheduledAt, a.startedAt, a.completedAt,
  ];
}

export function toAction(row: ActionRow): BulkAction {
  return {
    id: row.id,
    accountId: row.account_id,
    entityType: row.entity_type,
    status: row.status,
    fieldsToUpdate: JSON.parse(row.fields_to_update) as FieldUpdates,
    totalEntities: row.total_entities,
    createdAt: row.created_at,
    scheduledAt: row.scheduled_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    progress: { processed: row.processed, succeeded: row.succeeded, failed: row.failed, skipped: row.skipped },
    processingMs: busyMs({ closedMs: row.busy_ms, since: row.busy_since, until: row.busy_until }),
  };
}
