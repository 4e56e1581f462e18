import { PermanentError } from '../errors';
import type { EntitySnapshot, EntityStore, EntityWriteResult } from '../store/entityStore';
import type { EntityRecord, EntityType, FieldUpdates } from '../types/entities';

/**
 * The spec's per-type method names, typed from `EntityType`: `productExists(id)` and
 * `updateProduct(id, updates)` for 'product', `newEntityExists` and `updateNewEntity` for a member
 * 'newEntity'. A misspelt name (`updateProdcut`) or a type missing from `EntityType` is a compile error.
 */
export type CrmClientSpecMethods = {
  [T in EntityType as `${T}Exists`]: (id: string) => Promise<boolean>;
} & {
  [T in EntityType as `update${Capitalize<T>}`]: (id: string, updates: FieldUpdates) => Promise<boolean>;
};

/** What a spec-style name asks for (`productExists` -> exists 'product', `updateProduct` -> update 'product'), or null. */
function parseSpecName(name: string): { kind: 'exists' | 'update'; entityType: string } | null {
  const exists = /^([a-z][A-Za-z0-9_]*)Exists$/.exec(name)?.[1];
  if (exists) return { kind: 'exists', entityType: exists };
  const update = /^update([A-Z][A-Za-z0-9_]*)$/.exec(name)?.[1];
  return update ? { kind: 'update', entityType: update.charAt(0).toLowerCase() + update.slice(1) } : null;
}

/**
 * The spec's `this.crmClient`: the entity store seen from one batch, scoped to its account and
 * entity type. A handler cannot reach another account's records through it.
 *
 * Built per batch with the writer stamp of the batch's action: every write through it is
 * conditional ("the action created later wins, per entity"), and the client remembers the ids it
 * wrote (`written`), the ids a newer action had written (`superseded`) and the ids that were no
 * longer in the account (`missing`), so the core can correct what a handler reports for them without the handler
 * knowing about stamps (a handler written as the spec's extension guide shows only calls `update`).
 *
 * It also answers the spec's per-type names (`CrmClientSpecMethods`): `<type>Exists` is `exists`
 * and `update<Type>` is `update`, for the client's own type. The client is bound to one type, so the
 * name of another type (`updateContact` on a product batch's client) rejects with a PermanentError
 * naming both types rather than reaching another type's records. The generic methods win over a
 * spec name: a type called 'many' would not get `updateMany`.
 */
class ScopedCrmClient {
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
  ) {
    // The spec names are resolved on access rather than listed, because `EntityType` has no runtime
    // list and the registry a platform runs with may hold types beyond it (tests, embedders).
    return new Proxy(this, {
      get: (target, property, receiver) => {
        if (typeof property !== 'string' || Reflect.has(target, property)) return Reflect.get(target, property, receiver);
        const spec = parseSpecName(property);
        if (spec === null) return undefined;
        const named = spec.entityType;
        if (named !== target.entityType) {
          return () =>
            Promise.reject(
              new PermanentError(
                `crmClient.${property} reaches ${named} records, but this client is scoped to ${target.entityType} (account ${target.accountId}); use the ${target.entityType} names`,
              ),
            );
        }
        return spec.kind === 'exists' ? (id: string) => target.exists(id) : (id: string, updates: FieldUpdates) => target.update(id, updates);
      },
    });
  }

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

/** The client a batch's handler sees as `this.crmClient`: the generic methods plus the spec's per-type names. */
export type CrmClient = ScopedCrmClient & CrmClientSpecMethods;

/** Builds a `CrmClient` (see `ScopedCrmClient`); its per-type names are answered by a Proxy set up in the constructor. */
export const CrmClient = ScopedCrmClient as new (...args: ConstructorParameters<typeof ScopedCrmClient>) => CrmClient;
