import { BaseEntityHandler, type EntityResult } from './BaseEntityHandler';
import type { EntitySchema } from './fieldSchema';
import type { EntitySnapshot } from '../store/entityStore';
import type { FieldUpdates } from '../types/entities';

export class AccountHandler extends BaseEntityHandler {
  override readonly fields: EntitySchema = {
    name: { type: 'string', maxLength: 200 },
    domain: {
      type: 'string',
      maxLength: 253,
      pattern: /^[a-z0-9-]+(\.[a-z0-9-]+)+$/i,
      expected: 'a domain name such as example.com (letters, digits and "-", in dot-separated labels)',
      examples: ['example.com', 'globex.example.org', 'northwind-labs.example.net'],
      nullable: true,
    },
    industry: { type: 'string', maxLength: 100, nullable: true },
    employees: { type: 'integer', min: 0 },
    status: { type: 'enum', values: ['active', 'inactive'] },
  };

  constructor() {
    super('account');
  }

  async validateEntity(entityId: string): Promise<boolean> {
    return this.crmClient.exists(entityId);
  }

  async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
    await this.updateOneThatPasses(entityId, updates, checkAccount);
  }

  /** checkAccount reads the current status only when renaming without reactivating. */
  override needsCurrentData(updates: FieldUpdates): boolean {
    return updates.name !== undefined && updates.status !== 'active';
  }

  override processBatch(entities: EntitySnapshot[], updates: FieldUpdates): Promise<EntityResult[]> {
    return this.updateAllThatPass(entities, updates, checkAccount);
  }
}

/** An inactive account keeps its history; re-opening it in bulk is fine, renaming it is not. */
function checkAccount(entity: EntitySnapshot, updates: FieldUpdates): string | null {
  if (updates.name !== undefined && updates.status !== 'active' && entity.data.status === 'inactive') {
    return `account ${entity.id} is inactive; reactivate it to rename it`;
  }
  return null;
}
