import type { ApiKeyStore, StoredApiKey } from '../../auth/apiKeyStore';
import type { SqliteDatabase } from './database';

interface KeyRow {
  id: string;
  account_id: string;
  key_hash: string;
  created_at: number;
  revoked_at: number | null;
}

const COLUMNS = 'id, account_id, key_hash, created_at, revoked_at';

function toKey(r: KeyRow): StoredApiKey {
  return { id: r.id, accountId: r.account_id, keyHash: r.key_hash, createdAt: r.created_at, revokedAt: r.revoked_at };
}

/** API keys in the embedded SQLite file (table api_keys, migration 007). */
export class SqliteApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: SqliteDatabase) {}

  async insertKey(key: StoredApiKey): Promise<void> {
    this.db
      .prepare(`INSERT INTO api_keys (${COLUMNS}) VALUES (?, ?, ?, ?, ?)`)
      .run(key.id, key.accountId, key.keyHash, key.createdAt, key.revokedAt);
  }

  async findKey(id: string): Promise<StoredApiKey | null> {
    const row = this.db.prepare(`SELECT ${COLUMNS} FROM api_keys WHERE id = ?`).get(id) as KeyRow | undefined;
    return row ? toKey(row) : null;
  }

  async listKeys(): Promise<StoredApiKey[]> {
    return (this.db.prepare(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`).all() as KeyRow[]).map(toKey);
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    const changed = this.db.prepare('UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?').run(at, id).changes;
    return changed > 0;
  }
}
