import { createHash } from 'node:crypto';
import type { EntityRecord, FieldUpdates } from '../types/entities';

/** An entity as a batch sees it: its data, plus whether its de-dup key is shared in its account. */
export interface EntitySnapshot extends EntityRecord {
  /** The normalised de-dup key (e.g. lower-cased email), or null when the type has none or it is empty. */
  dedupeKey: string | null;
  /** True when another entity of the same type and account has the same key: only then can it be a duplicate. */
  keyShared: boolean;
  /** The writer stamp of the action that last wrote the entity (see `writerStamp`); null if none has (seeded). */
  writer: string | null;
}

/**
 * What a conditional write did to each (distinct) listed id: every id is in exactly one list.
 * - `written`: the update was applied (the entity had no stamp, an older one, or this writer's own);
 * - `superseded`: the entity is in the account but a newer action wrote it: left as it was;
 * - `missing`: no such entity in the account (or another account's, which looks the same).
 */
export interface EntityWriteResult {
  written: string[];
  superseded: string[];
  missing: string[];
}

export interface NewEntity {
  id: string;
  data: Record<string, unknown>;
}

/**
 * The CRM's records (the spec's `crmClient` is a view of this scoped to one account and type).
 * Adapters: SQLite (one table, JSON documents) and MongoDB (a collection per type, entity id as `_id`).
 * Every call is scoped to an account: an entity of another account is indistinguishable from a missing one.
 * Batch methods take one round trip each, whatever the number of IDs.
 */
export interface EntityStore {
  /**
   * The listed entities that exist in the account, each once, with their writer stamps. With
   * `withData: false` only the ids, keys and stamps are read (reading `data` then throws): a batch
   * skips the document when no rule needs it.
   */
  getMany(entityType: string, accountId: string, ids: string[], options?: { withData: boolean }): Promise<EntitySnapshot[]>;
  /**
   * Applies the same updates to every listed entity whose writer stamp is absent or <= `writer`,
   * and stamps it with `writer`, in the same statement as the write, so no other write can come
   * between the check and the write (except on FerretDB 1.x: see MongoEntityStore.updateMany):
   * "the action created later wins, per entity". Without `writer` the write is unconditional and
   * leaves the stamps as they were (tools and tests; actions always pass theirs). One round trip,
   * plus one read of the ids that were not written, only when there are some.
   */
  updateMany(entityType: string, accountId: string, ids: string[], updates: FieldUpdates, at: number, writer?: string): Promise<EntityWriteResult>;
  /** The entity, without its writer stamp (which is bookkeeping, not CRM data). */
  get(entityType: string, accountId: string, id: string): Promise<EntityRecord | null>;
  /** Inserts or replaces (a replaced entity loses its writer stamp: it is a new record). Used by seeding. */
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

/**
 * The writer stamp of an action: 20 upper-case hex digits, its creation time (48 bits of epoch ms)
 * then 32 bits of a hash of its id. Stamps compare as strings in creation order, the hash breaking
 * ties between actions created in the same millisecond (two of those sharing a hash: 1 in 4 billion),
 * so "a newer action wrote this entity" is `stamp > ours`; an action's own stamp equals itself, which
 * lets a redelivered batch rewrite what it wrote before. Compact on purpose: every entity an action
 * writes carries one, and on 50,000 seeded contacts a 50-character stamp (time and the whole id)
 * made SQLite's entity table 14-20% larger after one update, the 10-byte BLOB this is stored as 1%.
 */
export function writerStamp(createdAt: number, actionId: string): string {
  if (!Number.isSafeInteger(createdAt) || createdAt < 0 || createdAt >= 2 ** 48) throw new RangeError(`createdAt ${createdAt} is not an epoch-ms time`);
  const tieBreak = createHash('sha256').update(actionId).digest('hex').slice(0, 8);
  return `${createdAt.toString(16).padStart(12, '0')}${tieBreak}`.toUpperCase();
}

/**
 * A write result for `ids` (repeats counted once), from the ids the write applied to and the stamps
 * read back of the others that exist in the account: a newer stamp is superseded, anything else
 * (the entity came into the account after the write) was not written and counts as missing.
 */
export function classifyWrite(ids: string[], written: Set<string>, stampOf: Map<string, string | null>, writer: string | undefined): EntityWriteResult {
  const result: EntityWriteResult = { written: [], superseded: [], missing: [] };
  for (const id of new Set(ids)) {
    const stamp = stampOf.get(id) ?? null;
    if (written.has(id)) result.written.push(id);
    else if (writer !== undefined && stamp !== null && stamp > writer) result.superseded.push(id);
    else result.missing.push(id);
  }
  return result;
}
