import { performance } from 'node:perf_hooks';
import { openDatabase } from '../../src/adapters/sqlite/database';

/**
 * The bare database work of one bulk update, for comparison: per batch, one transaction that
 * applies the update to each entity with a prepared statement and writes its outcome row, then
 * moves the action's counters. No HTTP, no queue, no validation, no de-duplication.
 * Returns the seconds it took.
 */
export function runBaseline(file: string, accountId: string, ids: string[], fields: Record<string, unknown>, batchSize: number): number {
  const db = openDatabase(file);
  try {
    const actionNo = Number(
      db.prepare(`INSERT INTO actions (id, account_id, entity_type, status, fields_to_update, total_entities, created_at, payload_hash, creation_response)
        VALUES ('baseline', ?, 'contact', 'RUNNING', ?, ?, ?, '', '')`).run(accountId, JSON.stringify(fields), ids.length, Date.now()).lastInsertRowid,
    );
    const update = db.prepare(
      `UPDATE entities SET data = json_patch(data, ?), updated_at = ? WHERE entity_type = 'contact' AND id = ? AND account_id = ?`,
    );
    const outcome = db.prepare(
      'INSERT INTO action_outcomes (action_no, seq, entity_id, status, code, message, processed_at) VALUES (?, ?, ?, ?, ?, NULL, ?)',
    );
    const counters = db.prepare('UPDATE actions SET processed = processed + ?, succeeded = succeeded + ?, failed = failed + ? WHERE no = ?');
    const patch = JSON.stringify(fields);
    const runBatch = db.transaction((from: number, to: number) => {
      const at = Date.now();
      let ok = 0;
      for (let seq = from; seq < to; seq++) {
        const found = update.run(patch, at, ids[seq], accountId).changes === 1;
        if (found) ok++;
        outcome.run(actionNo, seq, ids[seq], found ? 'SUCCESS' : 'FAILED', found ? null : 'NOT_FOUND', at);
      }
      counters.run(to - from, ok, to - from - ok, actionNo);
    });
    const start = performance.now();
    for (let from = 0; from < ids.length; from += batchSize) runBatch(from, Math.min(ids.length, from + batchSize));
    return (performance.now() - start) / 1000;
  } finally {
    db.close();
  }
}
