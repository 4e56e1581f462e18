import { BaseEntityHandler, type EntityResult } from './BaseEntityHandler';
import type { EntitySchema } from './fieldSchema';
import type { EntitySnapshot } from '../store/entityStore';
import type { FieldUpdates } from '../types/entities';

export const QUALIFIED_MIN_SCORE = 50;

export class LeadHandler extends BaseEntityHandler {
  override readonly dedupeKey = 'email';
  override readonly fields: EntitySchema = {
    name: { type: 'string', maxLength: 200 },
    email: { type: 'string', format: 'email', maxLength: 320 },
    source: { type: 'string', maxLength: 100, nullable: true },
    status: { type: 'enum', values: ['new', 'contacted', 'qualified', 'lost'] },
    score: { type: 'integer', min: 0, max: 100 },
  };

  constructor() {
    super('lead');
  }

  async validateEntity(entityId: string): Promise<boolean> {
    return this.crmClient.exists(entityId);
  }

  async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
    await this.updateOneThatPasses(entityId, updates, checkLead);
  }

  /** checkLead reads the current score only when qualifying without a new score. */
  override needsCurrentData(updates: FieldUpdates): boolean {
    return updates.status === 'qualified' && typeof updates.score !== 'number';
  }

  override processBatch(entities: EntitySnapshot[], updates: FieldUpdates): Promise<EntityResult[]> {
    return this.updateAllThatPass(entities, updates, checkLead);
  }
}

/** Qualification needs a score: the score after the update, if the update sets one. */
function checkLead(entity: EntitySnapshot, updates: FieldUpdates): string | null {
  if (updates.status !== 'qualified') return null;
  const score = typeof updates.score === 'number' ? updates.score : entity.data.score;
  if (typeof score === 'number' && score >= QUALIFIED_MIN_SCORE) return null;
  return `lead ${entity.id} has score ${String(score ?? 'none')}; qualified needs at least ${QUALIFIED_MIN_SCORE}`;
}
