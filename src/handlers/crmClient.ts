import type { EntitySnapshot, EntityStore, EntityWriteResult } from '../store/entityStore';
import type { EntityRecord, FieldUpdates } from '../types/entities';

/**
 * The seed's `this.crmClient`: the entity store seen from one batch, scoped to its account and
 * entity type. A handler cannot reach another account's records through it.
 *
 * Built per batch with the writer stamp of the batch's action: every write through it is
 * conditional ("the action created later wins, per entity"), and the client remembers the ids it
 * wrote (`written`), the ids a newer action had written (`superseded`) and the ids that were no
 * longer in the account (`missing`), so the core can correct what a handler reports for them without the handler
 * knowing about stamps (a handler written as the seed's guide shows only calls `update`).
 */
export class CrmClient {
  private readonly writtenIds = new Set<string>();
  private readonly supersededIds = new Set<string>();
  private readonly missingIds = new Set<string>();

  constructor(
    private readonly store: EntityStore,
    readonly entityType: string,
    readonly accountId: string,
    private readonly now: () => number = Date.now,
    /** The writer stamp of the batch's action (`writerStamp`); without one, writes are unconditional. */
    private readonly writer?: string,
  ) {}

  /** Ids a write through this client changed: written means SUCCESS, whatever the handler says after. */
  get written(): ReadonlySet<string> {
    return this.writtenIds;
  }

  /** Ids a write through this client left alone because a newer action had written them. */
  get superseded(): ReadonlySet<string> {
    return this.supersededIds;
  }

  /** Ids a write through this client did not find in the account. */
  get missing(): ReadonlySet<string> {
    return this.missingIds;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.get(id)) !== null;
  }

  get(id: string): Promise<EntityRecord | null> {
    return this.store.get(this.entityType, this.accountId, id);
  }

  /** Returns whether the entity is in the account (false only when missing; a superseded entity is there, untouched). */
  async update(id: string, updates: FieldUpdates): Promise<boolean> {
    const result = await this.updateMany([id], updates);
    return result.missing.length === 0;
  }

  getMany(ids: string[], options = { withData: true }): Promise<EntitySnapshot[]> {
    return this.store.getMany(this.entityType, this.accountId, ids, options);
  }

  /** One round trip for the whole list: which ids were written, superseded or missing. */
  async updateMany(ids: string[], updates: FieldUpdates): Promise<EntityWriteResult> {
    if (ids.length === 0) return { written: [], superseded: [], missing: [] };
    const result = await this.store.updateMany(this.entityType, this.accountId, ids, updates, this.now(), this.writer);
    for (const id of result.written) this.writtenIds.add(id);
    for (const id of result.superseded) this.supersededIds.add(id);
    for (const id of result.missing) this.missingIds.add(id);
    return result;
  }
}
