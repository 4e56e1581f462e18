import { BaseEntityHandler, type EntityResult } from './BaseEntityHandler';
import type { EntitySchema } from './fieldSchema';
import type { EntitySnapshot } from '../store/entityStore';
import type { FieldUpdates } from '../types/entities';

export class ProductHandler extends BaseEntityHandler {
  override readonly fields: EntitySchema = {
    name: { type: 'string', maxLength: 200 },
    sku: { type: 'string', maxLength: 64, pattern: /^[A-Za-z0-9._-]+$/, expected: 'letters, digits, ".", "_" and "-" only', examples: ['SKU-1001', 'WID.200', 'pro_pack-3'] },
    price: { type: 'number', min: 0 },
    currency: { type: 'string', pattern: /^[A-Z]{3}$/, expected: 'a three-letter ISO 4217 currency code in capitals, e.g. USD', examples: ['USD', 'EUR', 'GBP', 'JPY'] },
    active: { type: 'boolean' },
  };

  constructor() {
    super('product');
  }

  async validateEntity(productId: string): Promise<boolean> {
    return this.crmClient.exists(productId);
  }

  async updateEntity(productId: string, updates: FieldUpdates): Promise<void> {
    await this.updateOneThatPasses(productId, updates, checkProduct);
  }

  /** checkProduct reads the current price only when activating without a new price. */
  override needsCurrentData(updates: FieldUpdates): boolean {
    return updates.active === true && typeof updates.price !== 'number';
  }

  override processBatch(entities: EntitySnapshot[], updates: FieldUpdates): Promise<EntityResult[]> {
    return this.updateAllThatPass(entities, updates, checkProduct);
  }
}

/** Nothing is sold for free by accident: an active product needs a price above zero. */
function checkProduct(entity: EntitySnapshot, updates: FieldUpdates): string | null {
  if (updates.active !== true) return null;
  const price = typeof updates.price === 'number' ? updates.price : entity.data.price;
  if (typeof price === 'number' && price > 0) return null;
  return `product ${entity.id} has no price above 0 and cannot be activated`;
}
