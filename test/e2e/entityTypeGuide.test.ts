import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BaseEntityHandler } from '../../src/handlers/BaseEntityHandler';
import { handlers } from '../../src/handlers/index';
import { codeBlockOf, withEntityTypeSnippet, withImportsFrom, withMakerSnippet, withRegistrySnippet } from '../support/guideSnippets';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';
import { repoRoot, typecheckWith } from '../support/typecheck';

/**
 * docs/adding-an-entity-type.md is the single source: its `opportunity` handler, registry line,
 * EntityType member and test are read from the guide, linted and type-checked as the files they
 * would be, then the handler is registered and driven end to end through the HTTP API.
 *
 * To run them, the handler and the guide's test are copied to test/.guide-tmp/<random>/
 * (gitignored, and outside the typecheck and lint: tsc skips dot-directories, eslint.config.js
 * ignores it). Linting and type-checking need no copy: they read the files' text in memory.
 */
const HANDLER_FILE = 'src/handlers/OpportunityHandler.ts';
const guide = fs.readFileSync(path.join(repoRoot, 'docs/adding-an-entity-type.md'), 'utf8');
const handlerCode = codeBlockOf(guide, HANDLER_FILE);
const registrySnippet = codeBlockOf(guide, 'src/handlers/index.ts');
const entityTypeSnippet = codeBlockOf(guide, 'src/types/entities.ts');
const testCode = codeBlockOf(guide, 'test/integration/opportunity.test.ts');
const makerSnippet = codeBlockOf(guide, 'src/seeding/generateEntities.ts, in MAKERS');
const realFile = (file: string) => fs.readFileSync(path.join(repoRoot, file), 'utf8');
/** The files a reader changes or adds, as they are after following the guide. */
const followed = (): Record<string, string> => ({
  [HANDLER_FILE]: handlerCode,
  'src/handlers/index.ts': withRegistrySnippet(realFile('src/handlers/index.ts'), registrySnippet),
  'src/types/entities.ts': withEntityTypeSnippet(realFile('src/types/entities.ts'), entityTypeSnippet),
  // The guide's test of the new type (it also runs, below).
  'test/integration/opportunity.test.ts': testCode,
  // The optional maker of "Realistic seed data".
  'src/seeding/generateEntities.ts': withMakerSnippet(realFile('src/seeding/generateEntities.ts'), makerSnippet),
});

describe('the guide, read as code', () => {
  it('shows the lines a reader must add to the registry and to EntityType', () => {
    expect(registrySnippet).toContain("import { OpportunityHandler } from './OpportunityHandler';");
    expect(registrySnippet).toMatch(/^ {2}opportunity: new OpportunityHandler\(\),$/m);
    expect(registrySnippet).toContain('} satisfies Record<EntityType, BaseEntityHandler>;');
    expect(entityTypeSnippet).toMatch(/^ {2}\| 'opportunity';?$/m);
    // The handler is a complete file: it declares the type it registers.
    expect(handlerCode).toContain("super('opportunity')");
    expect(handlerCode).toContain('export class OpportunityHandler extends BaseEntityHandler');
    expect(handlerCode).not.toMatch(/Record<string, any>/);
    expect(testCode).toContain('makeTestPlatform({}, { handlers: { ...handlers, opportunity: new OpportunityHandler() }, workers: true })');
  });

  it('leaves every file it touches lint-clean (npm run lint)', async () => {
    const eslint = new ESLint({ cwd: repoRoot });
    for (const [file, text] of Object.entries(followed())) {
      const [result] = await eslint.lintText(text, { filePath: path.join(repoRoot, file) });
      expect(result?.messages.map((m) => `${file}:${m.line}: ${m.ruleId} ${m.message}`), file).toEqual([]);
    }
  });

  it('leaves the whole project type-checking (npm run typecheck), its handler, snippets and test applied', () => {
    expect(typecheckWith(followed(), 'project')).toEqual([]);
  });
});

/**
 * The guide's handler and test, copied where they can run, their relative imports pointed at the
 * real src and test/support files (and the test's at the handler's copy).
 */
const tmpRoot = path.join(repoRoot, 'test/.guide-tmp');
const tmpDir = path.join(tmpRoot, crypto.randomUUID());
afterAll(() => {
  fs.rmSync(tmpDir, { recursive: true, force: true });
  try {
    fs.rmdirSync(tmpRoot); // only when empty, so a clean tree stays clean
  } catch {
    // Another run's copies are still there: it removes the directory.
  }
});
const handlerCopy = path.join(tmpDir, 'OpportunityHandler.ts');
// Not *.test.ts, so no vitest run ever collects the copy as a test file of its own.
const testCopy = path.join(tmpDir, 'opportunityGuideTest.ts');
fs.mkdirSync(tmpDir, { recursive: true });
fs.writeFileSync(handlerCopy, withImportsFrom(handlerCode, path.join(repoRoot, 'src/handlers'), tmpDir));
fs.writeFileSync(
  testCopy,
  withImportsFrom(testCode, path.join(repoRoot, 'test/integration'), tmpDir, { [path.join(repoRoot, 'src/handlers/OpportunityHandler')]: handlerCopy.slice(0, -'.ts'.length) }),
);
const { OpportunityHandler } = (await import(handlerCopy)) as { OpportunityHandler: new () => BaseEntityHandler };

describe("the guide's own test, as printed", async () => {
  // Its `it` registers here: it runs like any test of this file.
  await import(testCopy);
});

describe('the opportunity type, added exactly as the guide shows', () => {
  let t: TestPlatform | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  /** A platform with the guide's handler in a temporary registry, and a few opportunities. */
  async function platformWithOpportunities(): Promise<TestPlatform> {
    t = await makeTestPlatform({}, { handlers: { ...handlers, opportunity: new OpportunityHandler() }, workers: true });
    const now = Date.now();
    await t.platform.entityStore.insertMany('opportunity', 'acme', [
      { id: 'opp-1', data: { name: 'Renewal', amount: 1000, stage: 'negotiation', closeDate: null, ownerEmail: 'ana@example.com' } },
      { id: 'opp-2', data: { name: 'Upsell', amount: 250, stage: 'prospecting', closeDate: null, ownerEmail: null } },
      { id: 'opp-lost', data: { name: 'Pilot', amount: 90, stage: 'lost', closeDate: '2025-11-02', ownerEmail: 'li@example.com' } },
    ], now);
    await t.platform.entityStore.insertMany('opportunity', 'other', [{ id: 'opp-theirs', data: { name: 'Theirs', stage: 'negotiation' } }], now);
    return t;
  }

  const create = (p: TestPlatform, url: string, payload: Record<string, unknown>) =>
    p.app.inject({ method: 'POST', url, payload: { accountId: 'acme', ...payload } });
  const entity = async (p: TestPlatform, id: string) => (await p.app.inject({ url: `/api/entities/opportunity/${id}?accountId=acme` })).json();
  const actionCount = async (p: TestPlatform) => (await p.app.inject({ url: '/api/bulk-actions?accountId=acme' })).json().total as number;

  it('runs a good update to completion on both create routes, with exact counts and the values stored', async () => {
    const p = await platformWithOpportunities();
    const fieldsToUpdate = { stage: 'won', closeDate: '2026-03-31', amount: 12500.5, ownerEmail: null };
    const res = await create(p, '/api/bulk-actions', { entityType: 'opportunity', entityIds: ['opp-1', 'opp-2'], fieldsToUpdate });
    expect(res.statusCode, res.body).toBe(202);
    const action = await waitForAction(p.platform, res.json().id);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 2, succeeded: 2, failed: 0, skipped: 0 });
    for (const id of ['opp-1', 'opp-2']) {
      const stored = await entity(p, id);
      expect(stored).toMatchObject({ id, stage: 'won', closeDate: '2026-03-31', amount: 12500.5 });
      // null clears a nullable field: it is removed from the entity (a JSON merge patch).
      expect(stored).not.toHaveProperty('ownerEmail');
    }
    expect((await entity(p, 'opp-1')).name).toBe('Renewal');

    const byPath = await create(p, '/api/bulk-actions/opportunity', { entityIds: ['opp-1'], fieldsToUpdate: { ownerEmail: 'sam@example.com' } });
    expect(byPath.statusCode, byPath.body).toBe(202);
    expect((await waitForAction(p.platform, byPath.json().id)).progress).toEqual({ processed: 1, succeeded: 1, failed: 0, skipped: 0 });
    expect(await entity(p, 'opp-1')).toMatchObject({ stage: 'won', ownerEmail: 'sam@example.com' });
    expect(await entity(p, 'opp-lost')).toMatchObject({ stage: 'lost', ownerEmail: 'li@example.com' });
  });

  it('answers the request-level rule with 400 UPDATE_RULE_VIOLATED naming closeDate, storing nothing', async () => {
    const p = await platformWithOpportunities();
    for (const fieldsToUpdate of [{ stage: 'won' }, { stage: 'won', closeDate: null }]) {
      const res = await create(p, '/api/bulk-actions/opportunity', { entityIds: ['opp-1', 'opp-2'], fieldsToUpdate });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error).toEqual({
        code: 'UPDATE_RULE_VIOLATED',
        message: 'closeDate is required when stage is won',
        details: { field: 'fieldsToUpdate.closeDate', rule: 'closeDateRequiredWhenWon', reason: 'closeDate is required when stage is won' },
      });
    }
    expect(await actionCount(p)).toBe(0);
    expect(await entity(p, 'opp-1')).toMatchObject({ stage: 'negotiation', closeDate: null });

    // The rule refuses only what it names: with a close date, the same update is accepted.
    const accepted = await create(p, '/api/bulk-actions/opportunity', { entityIds: ['opp-1'], fieldsToUpdate: { stage: 'won', closeDate: '2026-01-15' } });
    expect(accepted.statusCode, accepted.body).toBe(202);
    expect(await actionCount(p)).toBe(1);
  });

  it('refuses a date that is not in the calendar with a message naming YYYY-MM-DD, never a regular expression', async () => {
    const p = await platformWithOpportunities();
    // The declaration is checked before the request-level rule, which this request would pass anyway.
    for (const fieldsToUpdate of [{ closeDate: '2026-02-30' }, { stage: 'won', closeDate: '2026-02-30' }]) {
      const res = await create(p, '/api/bulk-actions/opportunity', { entityIds: ['opp-1'], fieldsToUpdate });
      expect(res.statusCode, res.body).toBe(400);
      const { error } = res.json();
      expect(error.code).toBe('INVALID_UPDATE_VALUE');
      expect(error.details.field).toBe('fieldsToUpdate.closeDate');
      expect(error.message).toMatch(/^fieldsToUpdate\.closeDate .*YYYY-MM-DD/);
      expect(error.message).not.toMatch(/[\^$\\]|\[0-9\]|\{\d/);
    }
    expect(await actionCount(p)).toBe(0);
  });

  it('fails exactly the entity the per-entity rule refuses, with its code in /logs, and /stats and /logs agree with the counters', async () => {
    const p = await platformWithOpportunities();
    const res = await create(p, '/api/bulk-actions/opportunity', {
      entityIds: ['opp-1', 'opp-lost', 'opp-2', 'opp-theirs', 'opp-1'],
      fieldsToUpdate: { stage: 'prospecting' },
    });
    expect(res.statusCode, res.body).toBe(202);
    const action = await waitForAction(p.platform, res.json().id);
    expect(action.status).toBe('COMPLETED');
    expect(action.progress).toEqual({ processed: 5, succeeded: 2, failed: 2, skipped: 1 });

    const logs = (await p.app.inject({ url: `/api/bulk-actions/${action.id}/logs` })).json();
    type Row = { entityId: string; status: string; code: string | null; message: string | null };
    const rows: Row[] = logs.items;
    expect(rows.map((r) => [r.entityId, r.status, r.code])).toEqual([
      ['opp-1', 'SUCCESS', null],
      ['opp-lost', 'FAILED', 'VALIDATION_FAILED'],
      ['opp-2', 'SUCCESS', null],
      ['opp-theirs', 'FAILED', 'NOT_FOUND'],
      ['opp-1', 'SKIPPED', 'DUPLICATE_ID'],
    ]);
    expect(rows[1]?.message).toContain('opportunity opp-lost is lost and cannot be moved back to prospecting');
    expect(await entity(p, 'opp-lost')).toMatchObject({ stage: 'lost' });
    expect(await entity(p, 'opp-1')).toMatchObject({ stage: 'prospecting' });
    expect((await p.platform.entityStore.get('opportunity', 'other', 'opp-theirs'))?.data.stage).toBe('negotiation');

    const count = (status: string) => rows.filter((r) => r.status === status).length;
    const fromLogs = { processed: rows.length, succeeded: count('SUCCESS'), failed: count('FAILED'), skipped: count('SKIPPED') };
    expect(logs.total).toBe(rows.length);
    expect(fromLogs).toEqual(action.progress);
    const stats = (await p.app.inject({ url: `/api/bulk-actions/${action.id}/stats` })).json();
    expect(stats).toMatchObject({ total: 5, ...fromLogs, pending: 0, progress: 100 });
    const codes: Record<string, number> = {};
    for (const r of rows) if (r.code !== null) codes[r.code] = (codes[r.code] ?? 0) + 1;
    expect(stats.errorsByCode).toEqual(codes);
  });
});
