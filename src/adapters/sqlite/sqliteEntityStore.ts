import type { Statement } from 'better-sqlite3';
import {
  classifyWrite, normaliseDedupeKey, type DedupeFieldOf, type EntitySnapshot, type EntityStore, type EntityWriteResult, type NewEntity,
} from '../../store/entityStore';
import type { EntityRecord, FieldUpdates } from '../../types/entities';
import type { SqliteDatabase } from './database';
import { SharedKeys } from './sharedKeys';

interface EntityRow {
  id: string;
  account_id: string;
  data: string;
  created_at: number;
  updated_at: number;
}

/** id, account_id, data (null when not read), dedupe_key, created_at, updated_at, key_shared, writer (hex) */
type RawSnapshotRow = [string, string, string | null, string | null, number, number, number, string | null];

/**
 * The conditional write: only where no newer action wrote the entity (`writer` NULL or <= ours),
 * checked by the statement that writes. Without a writer (@writer NULL) it is unconditional and
 * keeps the stamp. Stamps are stored as 10-byte BLOBs (`unhex` of the port's hex string), which
 * compare byte by byte in the same order as the strings.
 */
function updateQuery(setKey: string): string {
  return `UPDATE entities SET data = json_patch(data, @patch), ${setKey} updated_at = @at, writer = coalesce(unhex(@writer), writer)
    WHERE entity_type = @type AND account_id = @account AND id IN (SELECT value FROM json_each(@ids))
      AND (@writer IS NULL OR writer IS NULL OR writer <= unhex(@writer))`;
}

/**
 * A stored stamp as the port's string: upper-case hex, NULL for none. A TEXT value (a stamp written
 * by a build before stamps were BLOBs) counts as none, as it does in the write's own check, where
 * any TEXT sorts before any BLOB.
 */
const WRITER_HEX = "CASE WHEN typeof(e.writer) = 'blob' THEN hex(e.writer) END";

function snapshotQuery(dataColumn: string): string {
  return `SELECT e.id, e.account_id, ${dataColumn}, e.dedupe_key, e.created_at, e.updated_at, s.key IS NOT NULL, ${WRITER_HEX}
    FROM json_each(?) j CROSS JOIN entities e
    LEFT JOIN entity_shared_keys s ON s.entity_type = e.entity_type AND s.account_id = e.account_id AND s.key = e.dedupe_key
    WHERE e.entity_type = ? AND e.id = j.value AND e.account_id = ?`;
}

/**
 * Entities in one generic table; a type's fields are a JSON document, merged with json_patch.
 * Batch reads and writes pass the ID list as one JSON parameter (json_each), so a batch is one
 * statement whatever its size.
 */
export class SqliteEntityStore implements EntityStore {
  private readonly sharedKeys: SharedKeys;
  private readonly s: Record<'getMany' | 'getManyKeys' | 'get' | 'insert' | 'replace' | 'keyOf' | 'keysOf' | 'update' | 'updateWithKey' | 'stampsOf', Statement>;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly dedupeFieldOf: DedupeFieldOf,
  ) {
    this.sharedKeys = new SharedKeys(db);
    this.s = {
      // CROSS JOIN pins json_each as the outer loop: one primary-key probe per ID. Raw rows skip
      // building an object per row on the hot path.
      getMany: db.prepare(snapshotQuery('e.data')).raw(true),
      getManyKeys: db.prepare(snapshotQuery('NULL')).raw(true),
      get: db.prepare('SELECT id, account_id, data, created_at, updated_at FROM entities WHERE entity_type = ? AND id = ? AND account_id = ?'),
      insert: db.prepare(`INSERT INTO entities (entity_type, id, account_id, data, dedupe_key, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      // A replaced entity is a new record: no action has written it yet.
      replace: db.prepare(`UPDATE entities SET account_id = ?, data = ?, dedupe_key = ?, created_at = ?, updated_at = ?, writer = NULL
        WHERE entity_type = ? AND id = ?`),
      keyOf: db.prepare('SELECT account_id, dedupe_key FROM entities WHERE entity_type = ? AND id = ?'),
      update: db.prepare(updateQuery('')),
      // Only when the update sets the key field: dedupe_key follows it.
      updateWithKey: db.prepare(updateQuery('dedupe_key = @key,')),
      stampsOf: db.prepare(`SELECT e.id, ${WRITER_HEX} FROM json_each(?) j CROSS JOIN entities e
        WHERE e.entity_type = ? AND e.id = j.value AND e.account_id = ?`).raw(true),
      keysOf: db.prepare(`SELECT DISTINCT e.dedupe_key FROM json_each(?) j CROSS JOIN entities e
        WHERE e.entity_type = ? AND e.id = j.value AND e.account_id = ? AND e.dedupe_key IS NOT NULL`),
    };
  }

  async getMany(entityType: string, accountId: string, ids: string[], options = { withData: true }): Promise<EntitySnapshot[]> {
    if (ids.length === 0) return [];
    const unique = new Set(ids);
    const list = JSON.stringify(unique.size === ids.length ? ids : [...unique]);
    const stmt = options.withData ? this.s.getMany : this.s.getManyKeys;
    return (stmt.all(list, entityType, accountId) as RawSnapshotRow[]).map((row) => new StoredSnapshot(row));
  }

  async updateMany(entityType: string, accountId: string, ids: string[], updates: FieldUpdates, at: number, writer?: string): Promise<EntityWriteResult> {
    if (ids.length === 0) return { written: [], superseded: [], missing: [] };
    const field = this.dedupeFieldOf(entityType);
    const idList = JSON.stringify(ids);
    const params = { patch: JSON.stringify(updates), at, writer: writer ?? null, type: entityType, account: accountId, ids: idList };
    let changes: number;
    if (field === undefined || !Object.hasOwn(updates, field)) {
      changes = this.db.writeLocked(() => this.s.update.run(params).changes);
    } else {
      // The key field changes: the old keys may stop being shared and the new one may start.
      const key = normaliseDedupeKey(updates[field]);
      changes = this.db.writeTransaction(() => {
        const oldKeys = (this.s.keysOf.all(idList, entityType, accountId) as { dedupe_key: string }[]).map((r) => r.dedupe_key);
        const updated = this.s.updateWithKey.run({ ...params, key }).changes;
        this.sharedKeys.refresh(entityType, accountId, key === null ? oldKeys : [...oldKeys, key]);
        return updated;
      });
    }
    // Every id written (the hot path; a repeated id would make `ids` longer than the rows changed).
    if (changes === ids.length) return { written: ids, superseded: [], missing: [] };
    // Some were not: one read of the stamps says which were (ours), superseded (newer) or missing.
    const stamps = new Map(this.s.stampsOf.all(idList, entityType, accountId) as [string, string | null][]);
    const written = new Set([...stamps].filter(([, stamp]) => writer === undefined || stamp === writer).map(([id]) => id));
    return classifyWrite(ids, written, stamps, writer);
  }

  async get(entityType: string, accountId: string, id: string): Promise<EntityRecord | null> {
    const row = this.s.get.get(entityType, id, accountId) as EntityRow | undefined;
    return row ? toRecord(row) : null;
  }

  /** Inserts, or replaces an entity with the same (type, id). */
  async insertMany(entityType: string, accountId: string, entities: NewEntity[], at: number): Promise<void> {
    const field = this.dedupeFieldOf(entityType);
    this.db.writeTransaction(() => {
      const newKeys: string[] = [];
      for (const e of entities) {
        const key = field === undefined ? null : normaliseDedupeKey(e.data[field]);
        const data = JSON.stringify(e.data);
        if (this.s.insert.run(entityType, e.id, accountId, data, key, at, at).changes === 1) {
          if (key !== null) newKeys.push(key);
          continue;
        }
        const old = this.s.keyOf.get(entityType, e.id) as { account_id: string; dedupe_key: string | null };
        this.s.replace.run(accountId, data, key, at, at, entityType, e.id);
        if (old.dedupe_key !== null) this.sharedKeys.refresh(entityType, old.account_id, [old.dedupe_key]);
        if (key !== null) this.sharedKeys.refresh(entityType, accountId, [key]);
      }
      // New holders only add sharing: one set-based statement marks every key they share.
      if (newKeys.length > 0) this.sharedKeys.markSharedAmong(entityType, accountId, newKeys);
    });
  }

  async count(entityType: string, accountId: string): Promise<number> {
    const row = this.db
      .prepare('SELECT count(*) AS n FROM entities WHERE entity_type = ? AND account_id = ?')
      .get(entityType, accountId) as { n: number };
    return row.n;
  }

  async close(): Promise<void> {
    // The database handle is owned and closed by whoever opened it (the composition root).
  }
}

/** A row read for a batch. `data` is parsed on first use: most handler checks never look at it. */
class StoredSnapshot implements EntitySnapshot {
  readonly id: string;
  readonly accountId: string;
  readonly dedupeKey: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly keyShared: boolean;
  readonly writer: string | null;
  private parsed: Record<string, unknown> | undefined;
  private readonly raw: string | null;

  constructor(row: RawSnapshotRow) {
    [this.id, this.accountId, this.raw, this.dedupeKey, this.createdAt, this.updatedAt] = row;
    this.keyShared = row[6] === 1;
    this.writer = row[7];
  }

  get data(): Record<string, unknown> {
    if (this.raw === null) throw new Error(`entity ${this.id} was read without its data (getMany withData: false)`);
    return (this.parsed ??= JSON.parse(this.raw) as Record<string, unknown>);
  }
}

function toRecord(row: EntityRow): EntityRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
