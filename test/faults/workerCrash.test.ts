import { afterEach, describe, expect, it } from 'vitest';
import { contacts, expectKilled, startDeployment, type Deployment, type DeploymentOptions } from '../support/faultDeployment';
import { expectAccountUntouched, expectActionInvariants, reportFault } from '../support/faultInvariants';
import { describeWithServices, services } from '../support/services';

/**
 * Fault 1: a worker is SIGKILLed at named crash points (FAULT_CRASH_AT, src/processing/crashPoints.ts):
 * mid-batch after k of the batch's entities were written, after the outcomes are stored but before
 * the ack, after finishBatch completed the action but before the ack, and after the ack before the
 * next batch. Embedded: the whole process dies and a new one starts on the same data dir.
 * Distributed: the worker process dies and a fresh worker starts; the API keeps running.
 * Then every invariant of test/support/faultInvariants.ts holds.
 */
const ACCOUNT = 'acme';
const OTHER = 'globex';

interface Sizes {
  batchSize: number;
  contacts: number;
  otherContacts: number;
  /** Terminal within this many ms of the restart. */
  boundMs: number;
}

/** Points and their counts; `last` is the number of batches (the one that completes the action). */
const POINTS = (s: Sizes) => {
  const batches = Math.ceil((s.contacts + 3) / s.batchSize) + 1; // the unique IDs (with three not in the account), then the repeat
  return [
    [`mid-batch, after ${s.batchSize / 2} of ${s.batchSize} entities written`, `entityWritten:${s.batchSize / 2}`],
    ['after the outcomes are stored, before the ack', 'outcomesRecorded'],
    ['after finishBatch completed the action (last batch), before the ack', `batchFinished:${batches}`],
    ['after the ack, before the next batch', 'batchSettled:1'],
  ] as const;
};

async function workerCrash(d: Deployment, sizes: Sizes, scenario: string, crashAt: string): Promise<void> {
  const mine = contacts('c-', sizes.contacts);
  await d.seed('contact', ACCOUNT, mine);
  // Another account's entities, two of them named in the request: they end NOT_FOUND and nothing
  // of that account may change. (Its IDs cannot equal ours: an entity id is unique per type in both stores.)
  const theirs = contacts('o-', sizes.otherContacts);
  await d.seed('contact', OTHER, theirs);
  const submitted = [...mine.map((c) => c.id), 'c-missing', theirs[0]!.id, theirs[1]!.id, mine[0]!.id];

  let crashing;
  if (d.mode === 'embedded') crashing = await d.start('all', { FAULT_CRASH_AT: crashAt });
  else {
    await d.start('api');
    crashing = await d.start('worker', { FAULT_CRASH_AT: crashAt });
  }
  const actionId = await d.create('contact', ACCOUNT, submitted, { title: 'after a crash' });
  await expectKilled(crashing, 60_000, d.output);
  const k = crashAt.startsWith('entityWritten:') ? Number(crashAt.split(':')[1]) : null;
  if (k !== null) {
    // Died mid-batch: k entities written, give or take the other batch in flight (WORKER_CONCURRENCY 2:
    // its last write may have happened before the k-th write's continuation counted it), none finished.
    const stored = await d.entities('contact', ACCOUNT, mine.map((c) => c.id));
    const written = [...stored.values()].filter((data) => data.title === 'after a crash').length;
    expect(written).toBeGreaterThanOrEqual(k);
    expect(written).toBeLessThanOrEqual(k + 1);
  }

  const restartedAt = Date.now();
  await d.start(d.mode === 'embedded' ? 'all' : 'worker');
  const { stats, msToTerminal } = await expectActionInvariants({
    base: d.base,
    actionId,
    submitted,
    boundMs: sizes.boundMs,
    since: restartedAt,
    written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'after a crash', read: (ids) => d.entities('contact', ACCOUNT, ids) },
    describe: d.output,
  });
  await expectAccountUntouched(d.base, 'contact', OTHER, theirs.map((c) => c.id));
  reportFault(`worker SIGKILLed ${scenario}`, d.mode, `${stats.status}, exact (${stats.succeeded}/${stats.failed}/${stats.skipped})`, msToTerminal);
}

function crashSuite(options: () => DeploymentOptions, sizes: Sizes): void {
  let d: Deployment | undefined;
  afterEach(async () => {
    await d?.close();
    d = undefined;
  });
  it.each(POINTS(sizes))(`SIGKILLed %s: terminal within ${sizes.boundMs / 1000} s of the restart, exact`, async (scenario, crashAt) => {
    // Crash counts are per thread: one worker thread, so that "the n-th batch" is the process's n-th.
    d = await startDeployment({ ...options(), env: { BATCH_SIZE: String(sizes.batchSize), WORKER_THREADS: '1' } });
    await workerCrash(d, sizes, scenario, crashAt);
  }, sizes.boundMs + 90_000);
}

describe('embedded: the process is SIGKILLed at a crash point and started again on its data dir', () => {
  crashSuite(() => ({}), { batchSize: 1000, contacts: 3000, otherContacts: 50, boundMs: 30_000 });
});

describeWithServices('distributed: a worker process is SIGKILLed at a crash point and another started', ['mongodb', 'rabbitmq'], () => {
  // FerretDB's updates are slow: a few hundred entities, batches of 100.
  crashSuite(() => ({ mongodbUrl: services.mongodbUrl, rabbitmqUrl: services.rabbitmqUrl }), { batchSize: 100, contacts: 300, otherContacts: 20, boundMs: 60_000 });
});
