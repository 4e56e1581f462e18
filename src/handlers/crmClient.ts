import type { EntityStore, EntitySnapshot } from '../store/entityStore';
import type { EntityRecord, FieldUpdates } from '../types/entities';

/**
 * The seed's `this.crmClient`: the entity store seen from one batch, scoped to its account and
 * entity type. A handler cannot reach another account's records through it.
 */
export class CrmClient {
  constructor(
    private readonly store: EntityStore,
    readonly entityType: string,
    readonly accountId: string,
    private readonly now: () => number = Date.now,
  ) {}

  async exists(id: string): Promise<boolean> {
    return (await this.get(id)) !== null;
  }

  get(id: string): Promise<EntityRecord | null> {
    return this.store.get(this.entityType, this.accountId, id);
  }

  /** Returns whether the entity existed. */
  update(id: string, updates: FieldUpdates): Promise<boolean> {
    return this.store.update(this.entityType, this.accountId, id, updates, this.now());
  }

  getMany(ids: string[], options = { withData: true }): Promise<EntitySnapshot[]> {
    return this.store.getMany(this.entityType, this.accountId, ids, options);
  }

  /** One round trip for the whole list. Returns how many matched. */
  updateMany(ids: string[], updates: FieldUpdates): Promise<number> {
    if (ids.length === 0) return Promise.resolve(0);
    return this.store.updateMany(this.entityType, this.accountId, ids, updates, this.now());
  }
}
