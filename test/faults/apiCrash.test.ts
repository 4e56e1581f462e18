import { afterEach, describe, expect, it } from 'vitest';
import { contacts, expectKilled, startDeployment, type Deployment, type DeploymentOptions } from '../support/faultDeployment';
import { expectAccountUntouched, expectActionInvariants, reportFault } from '../support/faultInvariants';
import { describeWithServices, services } from '../support/services';
import { authHeader } from '../support/apiHelpers';

/**
 * Fault 2: the API process is SIGKILLed after the action and its batch plan are stored, before any
 * batch is published (crash point `actionStored`). The client gets no answer. The outbox sweeper
 * publishes the batches: in embedded mode the restarted process's, in distributed mode a worker's
 * (the API stays down until the action is over). There is exactly one action, whole.
 */
const ACCOUNT = 'acme';
const OTHER = 'globex';

async function apiCrash(d: Deployment, size: number, boundMs: number): Promise<void> {
  const mine = contacts('c-', size);
  const theirs = contacts('o-', 10);
  await d.seed('contact', ACCOUNT, mine);
  await d.seed('contact', OTHER, theirs);
  const submitted = [...mine.map((c) => c.id), theirs[0]!.id, mine[1]!.id];

  const api = await d.start(d.mode === 'embedded' ? 'all' : 'api', { FAULT_CRASH_AT: 'actionStored' });
  if (d.mode === 'distributed') await d.start('worker');
  const request = fetch(`${d.base}/api/bulk-actions/contact`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json' },
    body: JSON.stringify({ accountId: ACCOUNT, entityIds: submitted, fieldsToUpdate: { title: 'after an API crash' } }),
  });
  await expect(request, 'the client gets no answer: the API died before it').rejects.toThrow();
  await expectKilled(api, 30_000, d.output);
  const killedAt = Date.now();

  if (d.mode === 'distributed') {
    // Only the worker runs: its sweeper must publish the batches. The API comes back to be asked.
    const ids = contacts('c-', size).map((c) => c.id);
    const written = async () => [...(await d.entities('contact', ACCOUNT, ids)).values()].filter((e) => e.title === 'after an API crash').length;
    const deadline = killedAt + boundMs;
    while ((await written()) < size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await written(), 'entities written while the API was down').toBe(size);
  }
  await d.start(d.mode === 'embedded' ? 'all' : 'api');

  const list = (await (await fetch(`${d.base}/api/bulk-actions?accountId=${ACCOUNT}`, { headers: authHeader() })).json()) as { items: { id: string; totalEntities: number }[]; total: number };
  expect(list.total, 'exactly one action was stored').toBe(1);
  expect(list.items[0]!.totalEntities).toBe(submitted.length);
  const { stats, msToTerminal } = await expectActionInvariants({
    base: d.base,
    actionId: list.items[0]!.id,
    submitted,
    boundMs,
    since: killedAt,
    written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'after an API crash', read: (ids) => d.entities('contact', ACCOUNT, ids) },
    describe: d.output,
  });
  await expectAccountUntouched(d.base, 'contact', OTHER, theirs.map((c) => c.id));
  reportFault('API SIGKILLed after the action was stored, before its batches were published', d.mode, `${stats.status}, exact, published by the sweeper`, msToTerminal);
}

function apiCrashSuite(options: () => DeploymentOptions, size: number, boundMs: number): void {
  let d: Deployment | undefined;
  afterEach(async () => {
    await d?.close();
    d = undefined;
  });
  it(`the sweeper publishes the stored action: terminal within ${boundMs / 1000} s of the kill, exact`, async () => {
    d = await startDeployment({ ...options(), env: { BATCH_SIZE: '100' } });
    await apiCrash(d, size, boundMs);
  }, boundMs + 60_000);
}

describe('embedded: the process dies after storing an action and is started again', () => {
  apiCrashSuite(() => ({}), 1000, 20_000);
});

describeWithServices('distributed: the API process dies after storing an action; a worker\'s sweeper publishes it', ['mongodb', 'rabbitmq'], () => {
  apiCrashSuite(() => ({ mongodbUrl: services.mongodbUrl, rabbitmqUrl: services.rabbitmqUrl }), 300, 60_000);
});
