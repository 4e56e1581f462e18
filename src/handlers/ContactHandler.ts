import { BaseEntityHandler, type EntityResult } from './BaseEntityHandler';
import type { EntitySchema } from './fieldSchema';
import type { EntitySnapshot } from '../store/entityStore';
import type { FieldUpdates } from '../types/entities';

export class ContactHandler extends BaseEntityHandler {
  override readonly dedupeKey = 'email';
  override readonly fields: EntitySchema = {
    firstName: { type: 'string', maxLength: 200 },
    lastName: { type: 'string', maxLength: 200 },
    email: { type: 'string', format: 'email', maxLength: 320 },
    phone: { type: 'string', maxLength: 50, nullable: true },
    company: { type: 'string', maxLength: 200, nullable: true },
    title: { type: 'string', maxLength: 200, nullable: true },
    status: { type: 'enum', values: ['lead', 'prospect', 'customer', 'churned'] },
    tags: { type: 'string[]', maxItems: 100, maxLength: 100 },
  };

  constructor() {
    super('contact');
  }

  async validateEntity(entityId: string): Promise<boolean> {
    return this.crmClient.exists(entityId);
  }

  async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
    await this.updateOneThatPasses(entityId, updates, checkContact);
  }

  /** checkContact reads the current status only when moving contacts to lead. */
  override needsCurrentData(updates: FieldUpdates): boolean {
    return updates.status === 'lead';
  }

  override processBatch(entities: EntitySnapshot[], updates: FieldUpdates): Promise<EntityResult[]> {
    return this.updateAllThatPass(entities, updates, checkContact);
  }
}

/** A churned contact is not a new lead: win-backs go through the sales pipeline, not a bulk edit. */
function checkContact(entity: EntitySnapshot, updates: FieldUpdates): string | null {
  if (updates.status === 'lead' && entity.data.status === 'churned') {
    return `contact ${entity.id} is churned and cannot be moved back to lead`;
  }
  return null;
}
