import type { AnyBulkWriteOperation, Collection, Db, Filter, UpdateFilter } from 'mongodb';
import type { Logger } from '../../observability/logger';
import {
  classifyWrite, normaliseDedupeKey, type DedupeFieldOf, type EntitySnapshot, type EntityStore, type EntityWriteResult, type NewEntity,
} from '../../store/entityStore';
import type { EntityRecord, FieldUpdates } from '../../types/entities';
import { bulkWriteInChunks, insertIgnoringDuplicates } from './bulkInsert';
import { ensureEntityIndexes, entityCollectionName } from './schema';

/** One CRM record in `entities_<type>`. Times are epoch ms. */
interface EntityDocument {
  _id: string;
  accountId: string;
  /** The type's own fields. */
  data: Record<string, unknown>;
  /** The normalised de-dup key; absent when the type has none or the field is empty. */
  dedupeKey?: string;
  /** The writer stamp of the action that last wrote the entity (`writerStamp`); absent until one does. */
  writer?: string;
  createdAt: number;
  updatedAt: number;
}

export interface MongoEntityStoreOptions {
  /** At most this many operations per write command (`DistributedSettings.mongodbMaxWriteOps`). */
  maxWriteOps: number;
  logger?: Logger;
}

/**
 * Entities on MongoDB: one collection per entity type, entity id as `_id`, the fields in `data`.
 * A collection gets its indexes on its first use in this process (types come from the handler
 * registry, which this adapter does not know). Every batch method is one command, whatever the
 * number of IDs (plus one aggregate for the shared keys of a type with a de-dup field); writes of
 * many documents are split by `maxWriteOps`. Driver errors are thrown as they are.
 */
export class MongoEntityStore implements EntityStore {
  private readonly ready = new Map<string, Promise<Collection<EntityDocument>>>();

  constructor(
    private readonly db: Db,
    private readonly dedupeFieldOf: DedupeFieldOf,
    private readonly options: MongoEntityStoreOptions,
  ) {}

  /**
   * Creates the collections' indexes of these entity types now (the composition root passes every
   * registered type at start-up); a type first seen later gets them on its first use.
   */
  async prepare(entityTypes: string[]): Promise<void> {
    await Promise.all(entityTypes.map((type) => this.collection(type)));
  }

  /** Order follows the first appearance of each id in `ids`. keyShared: one aggregate over the batch's keys. */
  async getMany(entityType: string, accountId: string, ids: string[], options = { withData: true }): Promise<EntitySnapshot[]> {
    if (ids.length === 0) return [];
    const unique = [...new Set(ids)];
    const collection = await this.collection(entityType);
    const docs = await collection.find({ _id: { $in: unique }, accountId }, options.withData ? {} : { projection: { data: 0 } }).toArray();
    const shared = await this.sharedKeys(collection, entityType, accountId, docs);
    const byId = new Map(docs.map((d) => [d._id, d]));
    const snapshots: EntitySnapshot[] = [];
    for (const id of unique) {
      const doc = byId.get(id);
      if (doc) snapshots.push(new DocumentSnapshot(doc, options.withData, doc.dedupeKey !== undefined && shared.has(doc.dedupeKey)));
    }
    return snapshots;
  }

  /**
   * One updateMany: `$set` for values, `$unset` for nulls (as the SQLite adapter's JSON merge patch
   * removes them), and the de-dup key follows its field. The writer check is in the filter, so
   * MongoDB applies it atomically per document with the write (FerretDB 1.x, whose updates are
   * read-modify-write, leaves a window between its own read and write of a document: two actions
   * updating one entity at the same instant may both pass). The driver only says how many matched:
   * when that is fewer than the ids, one read of the ids' stamps says which (ours: written).
   */
  async updateMany(entityType: string, accountId: string, ids: string[], updates: FieldUpdates, at: number, writer?: string): Promise<EntityWriteResult> {
    if (ids.length === 0) return { written: [], superseded: [], missing: [] };
    const unique = [...new Set(ids)];
    const collection = await this.collection(entityType);
    const set: Record<string, unknown> = { updatedAt: at };
    if (writer !== undefined) set.writer = writer;
    const unset: Record<string, ''> = {};
    for (const [field, value] of Object.entries(updates)) {
      const path = `data.${fieldName(field)}`;
      if (value === null) unset[path] = '';
      else set[path] = value;
    }
    const keyField = this.dedupeFieldOf(entityType);
    if (keyField !== undefined && Object.hasOwn(updates, keyField)) {
      const key = normaliseDedupeKey(updates[keyField]);
      if (key === null) unset.dedupeKey = '';
      else set.dedupeKey = key;
    }
    const update = (Object.keys(unset).length > 0 ? { $set: set, $unset: unset } : { $set: set }) as UpdateFilter<EntityDocument>;
    const filter: Filter<EntityDocument> = { _id: { $in: unique }, accountId };
    if (writer !== undefined) filter.$or = [{ writer: { $exists: false } }, { writer: { $lte: writer } }];
    const { matchedCount } = await collection.updateMany(filter, update);
    if (matchedCount === unique.length) return { written: unique, superseded: [], missing: [] };
    const docs = await collection.find({ _id: { $in: unique }, accountId }, { projection: { _id: 1, writer: 1 } }).toArray();
    const stamps = new Map(docs.map((d) => [d._id, d.writer ?? null]));
    // Without a writer every entity found was matched; with one, those carrying our stamp were.
    const written = new Set(docs.filter((d) => writer === undefined || d.writer === writer).map((d) => d._id));
    return classifyWrite(unique, written, stamps, writer);
  }

  async get(entityType: string, accountId: string, id: string): Promise<EntityRecord | null> {
    const doc = await (await this.collection(entityType)).findOne({ _id: id, accountId });
    return doc ? toRecord(doc) : null;
  }

  /**
   * Inserts, or replaces the entity with the same id (in whatever account: the id is the type's
   * key, as in the SQLite adapter). New ids cost one insertMany per `maxWriteOps` entities; only
   * ids that exist pay for a second command, a bulk of upserting replaceOne.
   */
  async insertMany(entityType: string, accountId: string, entities: NewEntity[], at: number): Promise<void> {
    if (entities.length === 0) return;
    const collection = await this.collection(entityType);
    const keyField = this.dedupeFieldOf(entityType);
    const docs = entities.map((e): EntityDocument => {
      const key = keyField === undefined ? null : normaliseDedupeKey(e.data[keyField]);
      return { _id: e.id, accountId, data: e.data, ...(key === null ? {} : { dedupeKey: key }), createdAt: at, updatedAt: at };
    });
    const existing = await insertIgnoringDuplicates(collection, docs, this.options.maxWriteOps);
    // In list order, so the last of an id repeated in `entities` wins, as in a sequential upsert.
    const replaces = existing.map((i): AnyBulkWriteOperation<EntityDocument> => {
      const doc = docs[i] as EntityDocument;
      return { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
    });
    await bulkWriteInChunks(collection, replaces, this.options.maxWriteOps);
  }

  async count(entityType: string, accountId: string): Promise<number> {
    return (await this.collection(entityType)).countDocuments({ accountId });
  }

  async close(): Promise<void> {
    // The client is owned and closed by openMongoStores' close().
  }

  /** The type's collection, its indexes created once per process (a failure is retried on next use). */
  private collection(entityType: string): Promise<Collection<EntityDocument>> {
    let ready = this.ready.get(entityType);
    if (!ready) {
      const collection = this.db.collection<EntityDocument>(entityCollectionName(entityType));
      ready = ensureEntityIndexes(collection, this.options.logger).then(() => collection);
      ready.catch(() => this.ready.delete(entityType));
      this.ready.set(entityType, ready);
    }
    return ready;
  }

  /** The keys among `docs` that two or more entities of the type hold in the account. */
  private async sharedKeys(collection: Collection<EntityDocument>, entityType: string, accountId: string, docs: EntityDocument[]): Promise<Set<string>> {
    if (this.dedupeFieldOf(entityType) === undefined) return new Set();
    const keys = [...new Set(docs.flatMap((d) => (d.dedupeKey === undefined ? [] : [d.dedupeKey])))];
    if (keys.length === 0) return new Set();
    const groups = await collection
      .aggregate<{ _id: string }>([
        { $match: { accountId, dedupeKey: { $in: keys } } },
        { $group: { _id: '$dedupeKey', holders: { $sum: 1 } } },
        { $match: { holders: { $gt: 1 } } },
      ])
      .toArray();
    return new Set(groups.map((g) => g._id));
  }
}

/** A field name from a handler's schema; `.` and a leading `$` would make it a path or an operator. */
function fieldName(field: string): string {
  if (field === '' || field.includes('.') || field.startsWith('$')) throw new Error(`"${field}" cannot be a field name`);
  return field;
}

/** An entity as a batch reads it. Read with `withData: false`, it has no data: reading `data` throws. */
class DocumentSnapshot implements EntitySnapshot {
  readonly id: string;
  readonly accountId: string;
  readonly dedupeKey: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly keyShared: boolean;
  readonly writer: string | null;
  readonly #data: Record<string, unknown> | null;

  constructor(doc: EntityDocument, withData: boolean, keyShared: boolean) {
    this.id = doc._id;
    this.accountId = doc.accountId;
    this.dedupeKey = doc.dedupeKey ?? null;
    this.createdAt = doc.createdAt;
    this.updatedAt = doc.updatedAt;
    this.keyShared = keyShared;
    this.writer = doc.writer ?? null;
    this.#data = withData ? doc.data : null;
  }

  get data(): Record<string, unknown> {
    if (this.#data === null) throw new Error(`entity ${this.id} was read without its data (getMany withData: false)`);
    return this.#data;
  }
}

function toRecord(doc: EntityDocument): EntityRecord {
  return { id: doc._id, accountId: doc.accountId, data: doc.data, createdAt: doc.createdAt, updatedAt: doc.updatedAt };
}
