import { BaseEntityHandler } from '../../src/handlers/BaseEntityHandler';
import type { EntitySchema } from '../../src/handlers/fieldSchema';
import type { FieldUpdates } from '../../src/types/entities';

/** A type added after the built-in ones, declaring every kind of field, and no maker in generateEntities. */
export class GadgetHandler extends BaseEntityHandler {
  override readonly fields: EntitySchema = {
    name: { type: 'string', maxLength: 60 },
    email: { type: 'string', format: 'email', nullable: true },
    code: { type: 'string', pattern: /^G-[0-9]{4}$/, expected: 'G- and four digits, e.g. G-0042' },
    madeOn: { type: 'date', min: '2020-02-29', max: '2020-03-02' },
    shippedAt: { type: 'datetime', nullable: true },
    note: { type: 'string', maxLength: 8 },
    kind: { type: 'enum', values: ['small', 'large'] },
    units: { type: 'integer', min: -5, max: 5 },
    stock: { type: 'integer', max: -10 },
    weight: { type: 'number', min: 0.5, max: 0.75 },
    rating: { type: 'number' },
    active: { type: 'boolean', nullable: true },
    labels: { type: 'string[]', maxItems: 2, maxLength: 4 },
    serial: { type: 'integer', min: 1, max: 1, readOnly: true },
  };
  constructor() {
    super('gadget');
  }
  async validateEntity(entityId: string): Promise<boolean> {
    return this.crmClient.exists(entityId);
  }
  async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
    await this.crmClient.update(entityId, updates);
  }
}
