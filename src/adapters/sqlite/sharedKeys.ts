import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './database';

/**
 * Maintains entity_shared_keys: exactly the de-dup keys held by two or more entities of a type
 * in an account. Callers run it inside the transaction that changed the entities.
 */
export class SharedKeys {
  private readonly mark: Statement;
  private readonly unmarkIfAlone: Statement;

  constructor(db: SqliteDatabase) {
    const holders = `(SELECT count(*) FROM (SELECT 1 FROM entities
      WHERE entity_type = :type AND account_id = :account AND dedupe_key = :key LIMIT 2))`;
    this.mark = db.prepare(`INSERT INTO entity_shared_keys (entity_type, account_id, key)
      SELECT :type, :account, :key WHERE ${holders} = 2 ON CONFLICT DO NOTHING`);
    this.unmarkIfAlone = db.prepare(`DELETE FROM entity_shared_keys
      WHERE entity_type = :type AND account_id = :account AND key = :key AND ${holders} < 2`);
  }

  /** After adding a holder of `key`: marks it if it now has two. */
  markIfShared(type: string, account: string, key: string): void {
    this.mark.run({ type, account, key });
  }

  /** After holders of `keys` changed in any way: makes each key's mark match its holder count. */
  refresh(type: string, account: string, keys: Iterable<string>): void {
    for (const key of new Set(keys)) {
      this.unmarkIfAlone.run({ type, account, key });
      this.mark.run({ type, account, key });
    }
  }
}
