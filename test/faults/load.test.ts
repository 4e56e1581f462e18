import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { contacts, startDeployment, type Deployment, type DeploymentOptions } from '../support/faultDeployment';
import { allLogs, expectAccountUntouched, expectActionInvariants, reportFault, type ActionStats } from '../support/faultInvariants';
import type { ServerProcess } from '../support/serverProcess';
import { until } from '../support/serverProcess';
import { describeWithServices, services } from '../support/services';
import { authHeader } from '../support/apiHelpers';

/**
 * Fault 6, load: 8 concurrent actions from 4 accounts (two per account, on disjoint halves of its
 * contacts), every count exact, memory bounded and reported (each process's peak RSS, VmHWM).
 * Embedded: on 2 worker threads, FAULT_LOAD_ENTITIES in all: 40,000 in `npm test` (it must stay
 * quick on 2 cores), the 400,000 with `npm run bench -- --scenario load`. Distributed: an
 * API and two workers on FerretDB, 2,000 in all (its updates are slow).
 */
const ACCOUNTS = ['north', 'south', 'east', 'west'];
const BYSTANDER = 'bystander';

interface LoadSizes {
  total: number;
  /** All 8 actions terminal within this long of the first create. */
  boundMs: number;
  /** Each process's peak RSS must stay under this (MB). */
  maxPeakRssMb: number;
}

/** Peak resident set size of a process so far (MB), from /proc; null where there is no /proc. */
function peakRssMb(server: ServerProcess): number | null {
  try {
    const status = fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return Number.isFinite(kb) ? Math.round(kb / 1024) : null;
  } catch {
    return null;
  }
}

/** POST a create, retrying while the server answers 503 with Retry-After (its bound on large bodies at once). */
async function createRetrying(d: Deployment, accountId: string, entityIds: string[], title: string): Promise<string> {
  const body = JSON.stringify({ accountId, entityIds, fieldsToUpdate: { title } });
  for (;;) {
    const res = await fetch(`${d.base}/api/bulk-actions/contact`, { method: 'POST', headers: { ...authHeader(), 'content-type': 'application/json' }, body });
    if (res.status === 503 && res.headers.get('retry-after')) {
      await new Promise((resolve) => setTimeout(resolve, Number(res.headers.get('retry-after')) * 1000));
      continue;
    }
    expect(res.status, await res.clone().text()).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }
}

/** Counts per status, from the logs' own totals (GET /logs?status=X), which the store counts from the outcome rows. */
async function logTotals(base: string, actionId: string): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const status of ['SUCCESS', 'FAILED', 'SKIPPED']) {
    const res = await fetch(`${base}/api/bulk-actions/${actionId}/logs?status=${status}&limit=1`, { headers: authHeader() });
    totals[status] = ((await res.json()) as { total: number }).total;
  }
  return totals;
}

function loadSuite(options: () => DeploymentOptions, sizes: LoadSizes, workers: number): void {
  let d: Deployment | undefined;
  afterEach(async () => {
    await d?.close();
    d = undefined;
  });

  it(`8 concurrent actions from 4 accounts, ${sizes.total.toLocaleString('en-US')} entities: exact, terminal within ${sizes.boundMs / 1000} s, peak RSS under ${sizes.maxPeakRssMb} MB`, async () => {
    d = await startDeployment({ ...options(), env: { BATCH_SIZE: '1000', WORKER_THREADS: '2', MAX_ENTITY_IDS: '1000000' } });
    const perAccount = sizes.total / ACCOUNTS.length;
    const seededAt = Date.now();
    const ids: string[][] = [];
    for (const account of ACCOUNTS) ids.push(await d.seedContacts(account, perAccount, `${account}-`)); // one writer at a time: SQLite's way
    const bystanders = contacts('b-', 20);
    await d.seed('contact', BYSTANDER, bystanders);
    const seedMs = Date.now() - seededAt;

    const processes = d.mode === 'embedded' ? [await d.start('all')] : [await d.start('api')];
    for (let i = 0; i < workers; i++) processes.push(await d.start('worker'));
    const startedAt = Date.now();
    const actions = await Promise.all(
      ACCOUNTS.flatMap((account, a) => [0, 1].map(async (half) => {
        const submitted = ids[a]!.slice(half * (perAccount / 2), (half + 1) * (perAccount / 2));
        return { submitted, actionId: await createRetrying(d!, account, submitted, `load ${half}`) };
      })),
    );
    const createMs = Date.now() - startedAt;

    const finished = await Promise.all(actions.map(({ actionId }) => until(`action ${actionId} terminal`, async () => {
      const s = (await (await fetch(`${d!.base}/api/bulk-actions/${actionId}/stats`, { headers: authHeader() })).json()) as ActionStats;
      return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(s.status) ? s : undefined;
    }, sizes.boundMs, d!.output)));
    const wallMs = Date.now() - startedAt;

    for (const [i, s] of finished.entries()) {
      const { submitted, actionId } = actions[i]!;
      const totals = await logTotals(d.base, actionId);
      expect({ status: s.status, total: s.total, processed: s.processed, succeeded: s.succeeded, failed: s.failed, skipped: s.skipped }, actionId).toEqual({
        status: 'COMPLETED', total: submitted.length, processed: submitted.length, succeeded: totals.SUCCESS, failed: totals.FAILED, skipped: totals.SKIPPED,
      });
      expect(s.succeeded, 'every contact is in its account, with its own email').toBe(submitted.length);
    }
    // One action in full: every submitted ID has exactly one outcome row.
    await expectActionInvariants({ base: d.base, actionId: actions[0]!.actionId, submitted: actions[0]!.submitted, boundMs: 0, since: Date.now() });
    expect((await allLogs(d.base, actions[7]!.actionId)).length).toBe(actions[7]!.submitted.length);
    await expectAccountUntouched(d.base, 'contact', BYSTANDER, bystanders.map((c) => c.id));

    const peaks = processes.map(peakRssMb);
    for (const peak of peaks) if (peak !== null) expect(peak, 'peak RSS (MB)').toBeLessThan(sizes.maxPeakRssMb);
    const rate = Math.round(sizes.total / (wallMs / 1000));
    console.log(`LOAD | ${d.mode} | ${sizes.total} entities, 8 actions, 4 accounts | seed ${seedMs} ms | creates ${createMs} ms | all terminal ${wallMs} ms (${rate}/s) | peak RSS MB ${peaks.join(', ')}`);
    reportFault(`load: 8 concurrent actions, 4 accounts, ${sizes.total.toLocaleString('en-US')} entities`, d.mode, `exact; peak RSS ${peaks.join(' / ')} MB`, wallMs);
  }, sizes.boundMs + 300_000);
}

describe('embedded: one process, 2 worker threads', () => {
  const total = Number(process.env.FAULT_LOAD_ENTITIES || 40_000);
  if (!Number.isSafeInteger(total) || total <= 0 || total % 8 !== 0) throw new Error(`FAULT_LOAD_ENTITIES must be a positive multiple of 8; got ${total}`);
  loadSuite(() => ({}), { total, boundMs: 120_000, maxPeakRssMb: 1024 }, 0);
});

describeWithServices('distributed: an API and two workers on FerretDB', ['mongodb', 'rabbitmq'], () => {
  loadSuite(() => ({ mongodbUrl: services.mongodbUrl, rabbitmqUrl: services.rabbitmqUrl }), { total: 2_000, boundMs: 180_000, maxPeakRssMb: 512 }, 2);
});
