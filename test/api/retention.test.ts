import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startRetention, retentionRunsInMainThread, type RetentionDeps } from '../../src/actions/retention';
import { ConfigError, loadConfig, type RetentionSettings } from '../../src/config';
import type { JobStore } from '../../src/store/jobStore';
import { allLogs, createBody, createdId, getJson, seed } from '../support/apiHelpers';
import { makeTestPlatform, waitForAction, type TestPlatform } from '../support/testPlatform';

/** RETENTION_DAYS end to end on the embedded platform: what a client sees of purged and kept actions. */
const DAY = 86_400_000;
const SETTINGS: RetentionSettings = { days: 30, intervalMs: 3_600_000, sliceRows: 2, pauseMs: 0 };

let t: TestPlatform | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** One pass of the job at `now`, stopped after. */
async function purgeAt(deps: Omit<RetentionDeps, 'now'>, now: number, settings = SETTINGS) {
  const job = startRetention({ ...deps, now: () => now }, settings);
  try {
    return await job.runPass();
  } finally {
    await job.stop();
  }
}

describe('retention', () => {
  it('purges what finished before the window (404 everywhere), keeps what finished inside it and what still runs', async () => {
    t = await makeTestPlatform();
    await seed(t, 'contact', 'acme', { c1: { email: 'a@x.io', status: 'lead' }, c2: { email: 'b@x.io', status: 'lead' } });
    const workers = await t.startWorkers();
    const oldId = await createdId(t.app, createBody({ entityIds: ['c1', 'c2', 'c3'] }));
    const old = await waitForAction(t.platform, oldId);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const youngId = await createdId(t.app, createBody({ entityIds: ['c1', 'c2'], fieldsToUpdate: { status: 'prospect' } }));
    const young = await waitForAction(t.platform, youngId);
    expect(young.completedAt!).toBeGreaterThan(old.completedAt!);
    await workers.stop();
    // Still running, and created long before either: stored, started, one outcome recorded.
    const runningId = await createdId(t.app, createBody({ entityIds: ['c1', 'c2'], fieldsToUpdate: { status: 'churned' } }));
    await t.platform.jobStore.markRunning(runningId, old.createdAt - 400 * DAY);
    await t.platform.jobStore.recordOutcomes(runningId, [{ seq: 0, entityId: 'c1', status: 'SUCCESS', code: null, params: null }], old.createdAt);

    // 30 days after the young action ended: the old one is past the window, the young one just inside.
    const pass = await purgeAt(t.platform, young.completedAt! + 30 * DAY);
    expect(pass).toMatchObject({ actionsRemoved: 1 });
    expect(pass.slices).toBeGreaterThan(2); // 2 rows a slice

    for (const url of [`/api/bulk-actions/${oldId}`, `/api/bulk-actions/${oldId}/stats`, `/api/bulk-actions/${oldId}/logs`]) {
      const { status, body } = await getJson(t.app, url);
      expect(status, url).toBe(404);
      expect((body.error as { code: string }).code).toBe('ACTION_NOT_FOUND');
    }
    const listed = (await getJson(t.app, '/api/bulk-actions?accountId=acme')).body.items as { id: string }[];
    expect(listed.map((a) => a.id).sort()).toEqual([youngId, runningId].sort());
    expect((await allLogs(t.app, youngId, 10)).map((l) => l.entityId)).toEqual(['c1', 'c2']);
    expect((await getJson(t.app, `/api/bulk-actions/${runningId}`)).body.status).toBe('RUNNING');
    expect((await allLogs(t.app, runningId, 10)).map((l) => [l.entityId, l.status])).toEqual([['c1', 'SUCCESS']]);
  });

  it('with RETENTION_DAYS=0 purges nothing, ever', async () => {
    const store = { purgeExpired: () => Promise.reject(new Error('must not be called')) } as unknown as JobStore;
    const pass = await purgeAt({ jobStore: store, logger: pino({ level: 'silent' }) }, Date.now() + 1_000 * DAY, { ...SETTINGS, days: 0 });
    expect(pass).toMatchObject({ actionsRemoved: 0, rowsDeleted: 0, slices: 0 });
  });

  it('reads its settings once, with RETENTION_DAYS=0 as off and anything but a whole number refused', () => {
    expect(loadConfig({}).retention).toEqual({ days: 30, intervalMs: 600_000, sliceRows: 1_000, pauseMs: 10 });
    expect(loadConfig({ RETENTION_DAYS: '0', RETENTION_SLICE_ROWS: '50', RETENTION_PAUSE_MS: '0' }).retention).toMatchObject({ days: 0, sliceRows: 50, pauseMs: 0 });
    for (const days of ['off', '-1', '1.5']) expect(() => loadConfig({ RETENTION_DAYS: days })).toThrow(ConfigError);
  });

  it('runs beside processing: worker roles distributed, worker thread 0 embedded (main thread only without threads)', () => {
    const urls = { MONGODB_URL: 'mongodb://h/db', RABBITMQ_URL: 'amqp://h' };
    expect(retentionRunsInMainThread(loadConfig(urls, ['--role', 'api']))).toBe(false);
    expect(retentionRunsInMainThread(loadConfig(urls, ['--role', 'worker']))).toBe(true);
    expect(retentionRunsInMainThread(loadConfig(urls))).toBe(true);
    expect(retentionRunsInMainThread(loadConfig({}))).toBe(false);
    expect(retentionRunsInMainThread(loadConfig({ WORKER_THREADS: '0' }))).toBe(true);
  });
});
