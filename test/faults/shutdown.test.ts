import { afterEach, describe, expect, it } from 'vitest';
import { contacts, startDeployment, type Deployment, type DeploymentOptions } from '../support/faultDeployment';
import { expectAccountUntouched, expectActionInvariants, reportFault, type ActionStats } from '../support/faultInvariants';
import type { ServerProcess } from '../support/serverProcess';
import { until } from '../support/serverProcess';
import { describeWithServices, services } from '../support/services';
import { authHeader } from '../support/apiHelpers';

/**
 * Fault 5: SIGTERM drains within SHUTDOWN_TIMEOUT_MS, even when the batches in flight need far
 * longer (a CRM that takes 2 s per call: a batch needs 4 s, the deadline is 0.5 s); what was not
 * finished goes back to the queue. SIGKILL during the drain loses nothing either. In both cases a
 * new process (embedded: on the same data dir; distributed: a new worker) finishes the action exactly.
 */
const ACCOUNT = 'acme';
const OTHER = 'globex';
const DEADLINE_MS = 500;
/** How long after the deadline a process may take to exit: closing the stores and the queue, and the runtime itself. */
const EXIT_SLACK_MS = 2_000;
const BOUND_MS = 30_000;

function shutdownSuite(options: () => DeploymentOptions, boundMs: number): void {
  let d: Deployment | undefined;
  afterEach(async () => {
    await d?.close();
    d = undefined;
  });

  /** Contacts in two accounts, the processes started slow, and an action part-way when this returns. */
  async function slowActionUnderWay(shutdownTimeoutMs: number): Promise<{ worker: ServerProcess; actionId: string; submitted: string[]; theirs: string[] }> {
    d = await startDeployment({ ...options(), env: { BATCH_SIZE: '10', CRM_LATENCY_MS: '2000', SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) } });
    const mine = contacts('c-', 100);
    const theirs = contacts('o-', 5);
    await d.seed('contact', ACCOUNT, mine);
    await d.seed('contact', OTHER, theirs);
    let worker: ServerProcess;
    // LOG_LEVEL info: the 'stopping' line tells a test the drain has begun.
    if (d.mode === 'embedded') worker = await d.start('all', { LOG_LEVEL: 'info' });
    else {
      await d.start('api', { CRM_LATENCY_MS: '0' });
      worker = await d.start('worker', { LOG_LEVEL: 'info' });
    }
    const submitted = [...mine.map((c) => c.id), theirs[0]!.id];
    const actionId = await d.create('contact', ACCOUNT, submitted, { title: 'drained' });
    // Once a batch is done, the workers are in the middle of the next ones (each takes 4 s).
    await until('the action part-way', async () => {
      const s = (await (await fetch(`${d!.base}/api/bulk-actions/${actionId}/stats`, { headers: authHeader() })).json()) as ActionStats;
      return s.processed > 0 && s.processed < s.total ? true : undefined;
    }, 60_000, d.output);
    return { worker, actionId, submitted, theirs: theirs.map((c) => c.id) };
  }

  /** A new worker (embedded: the whole process) without the slow CRM; then the invariants. */
  async function finishesExactly(actionId: string, submitted: string[], theirs: string[], scenario: string): Promise<void> {
    const restartedAt = Date.now();
    await d!.start(d!.mode === 'embedded' ? 'all' : 'worker', { CRM_LATENCY_MS: '0' });
    const { stats, msToTerminal } = await expectActionInvariants({
      base: d!.base, actionId, submitted, boundMs, since: restartedAt, describe: d!.output,
      written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'drained', read: (ids) => d!.entities('contact', ACCOUNT, ids) },
    });
    await expectAccountUntouched(d!.base, 'contact', OTHER, theirs);
    reportFault(scenario, d!.mode, `${stats.status}, exact`, msToTerminal);
  }

  it(`SIGTERM with batches that need longer than SHUTDOWN_TIMEOUT_MS=${DEADLINE_MS}: exits 0 within ${(DEADLINE_MS + EXIT_SLACK_MS) / 1000} s; the action then finishes exactly`, async () => {
    const { worker, actionId, submitted, theirs } = await slowActionUnderWay(DEADLINE_MS);
    const signalledAt = Date.now();
    const code = await worker.kill('SIGTERM');
    const exitMs = Date.now() - signalledAt;
    expect(code, d!.output()).toBe(0);
    expect(exitMs, 'exit after SIGTERM (ms)').toBeLessThanOrEqual(DEADLINE_MS + EXIT_SLACK_MS);
    await finishesExactly(actionId, submitted, theirs, `SIGTERM mid-action with batches longer than the deadline (exited in ${(exitMs / 1000).toFixed(1)} s)`);
  }, boundMs + 120_000);

  it('SIGKILL during the drain loses nothing', async () => {
    const { worker, actionId, submitted, theirs } = await slowActionUnderWay(30_000);
    worker.child.kill('SIGTERM');
    await until('the drain under way', async () => (/"msg":"stopping/.test(worker.output()) ? true : undefined), 10_000, d!.output);
    await worker.kill('SIGKILL');
    expect(worker.child.signalCode).toBe('SIGKILL');
    await finishesExactly(actionId, submitted, theirs, 'SIGKILL during the SIGTERM drain');
  }, boundMs + 120_000);
}

describe('embedded: the process is stopped with SIGTERM mid-action and started again', () => {
  shutdownSuite(() => ({}), BOUND_MS);
});

describeWithServices('distributed: a worker process is stopped with SIGTERM mid-action, another started', ['mongodb', 'rabbitmq'], () => {
  shutdownSuite(() => ({ mongodbUrl: services.mongodbUrl, rabbitmqUrl: services.rabbitmqUrl }), 60_000);
});
