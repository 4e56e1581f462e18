import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './database';

/**
 * Maintains entity_shared_keys: exactly the de-dup keys held by two or more entities of a type
 * in an account. Callers run it inside the transaction that changed the entities.
 */
export class SharedKeys {
  private readonly mark: Statement;
  private readonly unmarkIfAlone: Statement;
  private readonly markAmong: Statement;

  constructor(db: SqliteDatabase) {
    const holders = `(SELECT count(*) FROM (SELECT 1 FROM entities
      WHERE entity_type = :type AND account_id = :account AND dedupe_key = :key LIMIT 2))`;
    this.mark = db.prepare(`INSERT INTO entity_shared_keys (entity_type, account_id, key)
      SELECT :type, :account, :key WHERE ${holders} = 2 ON CONFLICT DO NOTHING`);
    this.markAmong = db.prepare(`INSERT INTO entity_shared_keys (entity_type, account_id, key)
      SELECT :type, :account, e.dedupe_key
      FROM (SELECT DISTINCT value FROM json_each(:keys)) k CROSS JOIN entities e
      WHERE e.entity_type = :type AND e.account_id = :account AND e.dedupe_key = k.value
      GROUP BY e.dedupe_key HAVING count(*) > 1
      ON CONFLICT DO NOTHING`);
    this.unmarkIfAlone = db.prepare(`DELETE FROM entity_shared_keys
      WHERE entity_type = :type AND account_id = :account AND key = :key AND ${holders} < 2`);
  }

  /** After adding holders of `keys`: marks every one of them that now has two or more, in one statement. */
  markSharedAmong(type: string, account: string, keys: string[]): void {
    this.markAmong.run({ type, account, keys: JSON.stringify(keys) });
  }

  /** After holders of `keys` changed in any way: makes each key's mark match its holder count. */
  refresh(type: string, account: string, keys: Iterable<string>): void {
    for (const key of new Set(keys)) {
      this.unmarkIfAlone.run({ type, account, key });
      this.mark.run({ type, account, key });
    }
  }
}
