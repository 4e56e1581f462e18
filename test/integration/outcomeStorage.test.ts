import Database from 'better-sqlite3';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toOutcomeDocument, toOutcomeLog, type OutcomeDocument } from '../../src/adapters/mongodb/actionDocuments';
import { DATABASE_FILE } from '../../src/platform';
import { allLogs, createBody, createdId, seed } from '../support/apiHelpers';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/**
 * Outcomes are stored as a code and a few params, never a sentence per row; GET /logs renders the
 * same messages as before from src/outcomeMessages.ts, rows recorded before included.
 */
let t: TestPlatform | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function rowsOf(dataDir: string): { entity_id: string; code: string | null; params: string | null; message: string | null }[] {
  const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
  try {
    return db.prepare('SELECT entity_id, code, params, message FROM action_outcomes ORDER BY action_no, seq').all() as never;
  } finally {
    db.close();
  }
}

describe('compact outcomes (SQLite)', () => {
  it('stores codes and params only, and GET /logs reads the same messages', async () => {
    t = await makeTestPlatform({}, { workers: true });
    await seed(t, 'contact', 'acme', {
      c1: { email: 'same@x.io', status: 'lead' },
      c2: { email: 'same@x.io', status: 'lead' },
      c3: { email: 'c3@x.io', status: 'churned' },
    });
    const id = await createdId(t.app, createBody({ entityIds: ['c1', 'c2', 'c3', 'nope', 'c1'], fieldsToUpdate: { status: 'lead' } }));
    await waitForAction(t.platform, id);

    const logs = await allLogs(t.app, id, 10);
    expect(logs.map((l) => [l.entityId, l.status, l.code, l.message])).toEqual([
      ['c1', 'SUCCESS', null, null],
      ['c2', 'SKIPPED', 'DUPLICATE_EMAIL', 'same email as c1, which holds it in this action'],
      ['c3', 'FAILED', 'VALIDATION_FAILED', 'contact c3 is churned and cannot be moved back to lead'],
      ['nope', 'FAILED', 'NOT_FOUND', 'no contact nope in account acme'],
      ['c1', 'SKIPPED', 'DUPLICATE_ID', 'entity ID repeats the one at position 0'],
    ]);
    expect(rowsOf(t.dataDir).map((r) => [r.entity_id, r.code, r.params, r.message])).toEqual([
      ['c1', null, null, null],
      ['c2', 'DUPLICATE_EMAIL', '{"ownerId":"c1"}', null],
      ['c3', 'VALIDATION_FAILED', '{"detail":"contact c3 is churned and cannot be moved back to lead"}', null],
      ['nope', 'NOT_FOUND', null, null],
      ['c1', 'DUPLICATE_ID', '{"firstSeq":0}', null],
    ]);
  });

  it('shows a row recorded before params with the sentence it was stored with', async () => {
    t = await makeTestPlatform();
    const id = await createdId(t.app, createBody({ entityIds: ['old'] }));
    const db = new Database(path.join(t.dataDir, DATABASE_FILE));
    db.prepare(`INSERT INTO action_outcomes (action_no, seq, entity_id, status, code, message, processed_at)
      SELECT no, 0, 'old', 'FAILED', 'NOT_FOUND', 'no contact old in account acme (as written then)', 1 FROM actions WHERE id = ?`).run(id);
    db.prepare('UPDATE actions SET processed = 1, failed = 1 WHERE id = ?').run(id);
    db.close();
    expect((await allLogs(t.app, id, 10)).map((l) => l.message)).toEqual(['no contact old in account acme (as written then)']);
  });
});

describe('compact outcomes (MongoDB documents)', () => {
  it('leaves out what is null, and reads an old document\'s sentence back as its detail', () => {
    expect(toOutcomeDocument('a-1', { seq: 3, entityId: 'c3', status: 'FAILED', code: 'NOT_FOUND', params: null }, 7)).toEqual({
      actionId: 'a-1', seq: 3, entityId: 'c3', status: 'FAILED', code: 'NOT_FOUND', processedAt: 7,
    });
    expect(toOutcomeDocument('a-1', { seq: 0, entityId: 'c1', status: 'SUCCESS', code: null, params: null }, 7)).toEqual({
      actionId: 'a-1', seq: 0, entityId: 'c1', status: 'SUCCESS', processedAt: 7,
    });
    const old: OutcomeDocument = { actionId: 'a-1', seq: 3, entityId: 'c3', status: 'FAILED', code: 'NOT_FOUND', message: 'no contact c3 in account acme', processedAt: 7 };
    expect(toOutcomeLog(old)).toEqual({ seq: 3, entityId: 'c3', status: 'FAILED', code: 'NOT_FOUND', params: { detail: 'no contact c3 in account acme' }, processedAt: 7 });
    expect(toOutcomeLog({ actionId: 'a-1', seq: 0, entityId: 'c1', status: 'SUCCESS', code: null, message: null, processedAt: 7 })).toEqual({
      seq: 0, entityId: 'c1', status: 'SUCCESS', code: null, params: null, processedAt: 7,
    });
  });
});
