import type { Statement } from 'better-sqlite3';
import { normaliseDedupeKey, type DedupeFieldOf, type EntitySnapshot, type EntityStore, type NewEntity } from '../../store/entityStore';
import type { EntityRecord, FieldUpdates } from '../../types/entities';
import type { SqliteDatabase } from './database';

interface EntityRow {
  id: string;
  account_id: string;
  data: string;
  dedupe_key: string | null;
  created_at: number;
  updated_at: number;
  key_shared?: number;
}

/**
 * Entities in one generic table; a type's fields are a JSON document, merged with json_patch.
 * Batch reads and writes pass the ID list as one JSON parameter (json_each), so a batch is one
 * statement whatever its size.
 */
export class SqliteEntityStore implements EntityStore {
  private readonly getManyStmt: Statement;
  private readonly getStmt: Statement;
  private readonly updateStmts = new Map<string, Statement>();

  constructor(
    private readonly db: SqliteDatabase,
    private readonly dedupeFieldOf: DedupeFieldOf,
  ) {
    // CROSS JOIN pins json_each as the outer loop: one primary-key probe per ID.
    this.getManyStmt = db.prepare(`
      SELECT e.id, e.account_id, e.data, e.dedupe_key, e.created_at, e.updated_at,
        CASE WHEN e.dedupe_key IS NULL THEN 0 ELSE EXISTS (
          SELECT 1 FROM entities o
          WHERE o.entity_type = e.entity_type AND o.account_id = e.account_id
            AND o.dedupe_key = e.dedupe_key AND o.id <> e.id) END AS key_shared
      FROM (SELECT DISTINCT value FROM json_each(?)) j CROSS JOIN entities e
      WHERE e.entity_type = ? AND e.id = j.value AND e.account_id = ?`);
    this.getStmt = db.prepare(
      'SELECT id, account_id, data, dedupe_key, created_at, updated_at FROM entities WHERE entity_type = ? AND id = ? AND account_id = ?',
    );
  }

  async getMany(entityType: string, accountId: string, ids: string[]): Promise<EntitySnapshot[]> {
    if (ids.length === 0) return [];
    const rows = this.getManyStmt.all(JSON.stringify(ids), entityType, accountId) as EntityRow[];
    return rows.map((row) => ({ ...toRecord(row), dedupeKey: row.dedupe_key, keyShared: row.key_shared === 1 }));
  }

  async updateMany(entityType: string, accountId: string, ids: string[], updates: FieldUpdates, at: number): Promise<number> {
    if (ids.length === 0) return 0;
    const { stmt, params } = this.updateFor(entityType, updates);
    return stmt.run(...params, at, entityType, accountId, JSON.stringify(ids)).changes;
  }

  async get(entityType: string, accountId: string, id: string): Promise<EntityRecord | null> {
    const row = this.getStmt.get(entityType, id, accountId) as EntityRow | undefined;
    return row ? toRecord(row) : null;
  }

  async update(entityType: string, accountId: string, id: string, updates: FieldUpdates, at: number): Promise<boolean> {
    return (await this.updateMany(entityType, accountId, [id], updates, at)) === 1;
  }

  async insertMany(entityType: string, accountId: string, entities: NewEntity[], at: number): Promise<void> {
    const field = this.dedupeFieldOf(entityType);
    const insert = this.db.prepare(
      `INSERT OR REPLACE INTO entities (entity_type, id, account_id, data, dedupe_key, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const e of entities) {
        const key = field === undefined ? null : normaliseDedupeKey(e.data[field]);
        insert.run(entityType, e.id, accountId, JSON.stringify(e.data), key, at, at);
      }
    })();
  }

  async count(entityType: string, accountId: string): Promise<number> {
    const row = this.db
      .prepare('SELECT count(*) AS n FROM entities WHERE entity_type = ? AND account_id = ?')
      .get(entityType, accountId) as { n: number };
    return row.n;
  }

  async listIds(entityType: string, accountId: string, afterId: string | null, limit: number): Promise<string[]> {
    const rows = this.db
      .prepare('SELECT id FROM entities WHERE entity_type = ? AND account_id = ? AND id > ? ORDER BY id LIMIT ?')
      .all(entityType, accountId, afterId ?? '', limit) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async close(): Promise<void> {
    // The database handle is owned and closed by whoever opened it (the composition root).
  }

  /** The UPDATE for one shape of update: it rewrites dedupe_key only when the update sets the key field. */
  private updateFor(entityType: string, updates: FieldUpdates): { stmt: Statement; params: unknown[] } {
    const field = this.dedupeFieldOf(entityType);
    const setsKey = field !== undefined && Object.hasOwn(updates, field);
    const cacheKey = setsKey ? 'with-key' : 'plain';
    let stmt = this.updateStmts.get(cacheKey);
    if (!stmt) {
      stmt = this.db.prepare(`
        UPDATE entities SET data = json_patch(data, ?), ${setsKey ? 'dedupe_key = ?,' : ''} updated_at = ?
        WHERE entity_type = ? AND account_id = ? AND id IN (SELECT value FROM json_each(?))`);
      this.updateStmts.set(cacheKey, stmt);
    }
    const patch = JSON.stringify(updates);
    return { stmt, params: setsKey ? [patch, normaliseDedupeKey(updates[field!])] : [patch] };
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
