import type { EntityRecord, FieldUpdates } from '../types/entities';

/** An entity as a batch sees it: its data, plus whether its de-dup key is shared in its account. */
export interface EntitySnapshot extends EntityRecord {
  /** The normalised de-dup key (e.g. lower-cased email), or null when the type has none or it is empty. */
  dedupeKey: string | null;
  /** True when another entity of the same type and account has the same key: only then can it be a duplicate. */
  keyShared: boolean;
}

export interface NewEntity {
  id: string;
  data: Record<string, unknown>;
}

/**
 * The CRM's records (the seed's `crmClient` is a view of this scoped to one account and type).
 * Adapters: SQLite (one table, JSON documents) and MongoDB (a collection per type, entity id as `_id`).
 * Every call is scoped to an account: an entity of another account is indistinguishable from a missing one.
 * Batch methods take one round trip each, whatever the number of IDs.
 */
export interface EntityStore {
  /**
   * The listed entities that exist in the account, each once. With `withData: false` only the ids
   * and keys are read (reading `data` then throws): a batch skips the document when no rule needs it.
   */
  getMany(entityType: string, accountId: string, ids: string[], options?: { withData: boolean }): Promise<EntitySnapshot[]>;
  /** Applies the same updates to every listed entity; returns how many matched. */
  updateMany(entityType: string, accountId: string, ids: string[], updates: FieldUpdates, at: number): Promise<number>;
  get(entityType: string, accountId: string, id: string): Promise<EntityRecord | null>;
  /** Returns whether the entity existed. */
  update(entityType: string, accountId: string, id: string, updates: FieldUpdates, at: number): Promise<boolean>;
  /** Inserts or replaces. Used by seeding. */
  insertMany(entityType: string, accountId: string, entities: NewEntity[], at: number): Promise<void>;
  count(entityType: string, accountId: string): Promise<number>;
  close(): Promise<void>;
}

/** Which field of a type's data is its de-dup key (normalised: trimmed, lower-cased). */
export type DedupeFieldOf = (entityType: string) => string | undefined;

export function normaliseDedupeKey(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const key = value.trim().toLowerCase();
  return key === '' ? null : key;
}
