import { MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contacts, startDeployment, type Deployment } from '../support/faultDeployment';
import { expectAccountUntouched, expectActionInvariants, reportFault, type ActionStats } from '../support/faultInvariants';
import { privateServersAvailable, startPrivateFerretDb, startPrivateRabbit, type PrivateFerretDb, type PrivateRabbit } from '../support/privateServers';
import { until } from '../support/serverProcess';
import { services } from '../support/services';
import { authHeader } from '../support/apiHelpers';

/**
 * Fault 3 (distributed mode; embedded mode has no server to restart): RabbitMQ restarts mid-action
 * (`rabbitmqctl stop_app`, then `start_app`), and FerretDB restarts mid-action (killed, started
 * again on the same data). An API and two workers recover with no manual step; a create sent
 * during the outage is answered 202 (stored, published later) or 503, never 500, and never leaves a
 * half-made action. Both run on a RabbitMQ node and a FerretDB of this file's own
 * (test/support/privateServers.ts): other test files use the shared ones at the same time.
 */
const ACCOUNT = 'acme';
const OTHER = 'globex';
const OUTAGE_MS = 3_000;
/** Terminal within this long of the server being back. */
const BOUND_MS = 60_000;
const available = privateServersAvailable();

const suite = available.ok ? describe : services.required ? describe : describe.skip;
suite(`a RabbitMQ node and a FerretDB restarted mid-action${available.ok ? '' : ` (${available.why})`}`, () => {
  let rabbit: PrivateRabbit;
  let ferret: PrivateFerretDb;
  let d: Deployment | undefined;

  beforeAll(async () => {
    if (!available.ok) throw new Error(`REQUIRE_SERVICES=1 but ${available.why}`);
    [rabbit, ferret] = await Promise.all([startPrivateRabbit(), startPrivateFerretDb()]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([rabbit?.stop(), ferret?.stop()]);
  }, 60_000);
  afterEach(async () => {
    await d?.close();
    d = undefined;
  });

  /** An API, two workers, contacts in two accounts, and an action under way (part-way when this returns). */
  async function actionUnderWay(): Promise<{ actionId: string; submitted: string[]; spare: string[]; theirs: string[] }> {
    // Every entity-store call waits 200 ms (a remote CRM): the action is still running when the server goes.
    d = await startDeployment({ mongodbUrl: ferret.url, rabbitmqUrl: rabbit.url, env: { BATCH_SIZE: '20', CRM_LATENCY_MS: '200' } });
    const mine = contacts('c-', 400);
    const theirs = contacts('o-', 10);
    await d.seed('contact', ACCOUNT, mine);
    await d.seed('contact', OTHER, theirs);
    await d.start('api');
    await d.start('worker');
    await d.start('worker');
    const submitted = [...mine.slice(0, 300).map((c) => c.id), theirs[0]!.id];
    const actionId = await d.create('contact', ACCOUNT, submitted, { title: 'first' });
    await until('the action part-way', async () => {
      const s = (await (await fetch(`${d!.base}/api/bulk-actions/${actionId}/stats`, { headers: authHeader() })).json()) as ActionStats;
      return s.processed > 0 && s.processed < s.total ? true : undefined;
    }, 60_000, d.output);
    // The create during the outage works on the other 100, so each action's writes can be checked.
    return { actionId, submitted, spare: mine.slice(300).map((c) => c.id), theirs: theirs.map((c) => c.id) };
  }

  /** What FerretDB holds about the action (its document, the document locks), for a failure message. */
  async function ferretState(actionId: string): Promise<string> {
    const client = new MongoClient(ferret.url, { serverSelectionTimeoutMS: 3_000 });
    try {
      const db = client.db(d!.names.database);
      const action = await db.collection('actions').findOne({ _id: actionId as never }, { projection: { status: 1, progress: 1, countedBatches: 1 } });
      const locks = await db.collection('document_locks').find({}).toArray();
      return JSON.stringify({ now: Date.now(), action, locks });
    } catch (error) {
      return `could not ask FerretDB: ${(error as Error).message}`;
    } finally {
      await client.close();
    }
  }

  /** A create sent while the server is down; its answer once it comes, and how long that took (ms). */
  async function createDuringOutage(submitted: string[]): Promise<{ answer: Response; ms: number }> {
    const sentAt = Date.now();
    const answer = await fetch(`${d!.base}/api/bulk-actions/contact`, {
      method: 'POST',
      headers: { ...authHeader(), 'content-type': 'application/json', 'idempotency-key': 'during-the-outage' },
      body: JSON.stringify({ accountId: ACCOUNT, entityIds: submitted, fieldsToUpdate: { title: 'second' } }),
    });
    return { answer, ms: Date.now() - sentAt };
  }

  /**
   * The create sent during the outage: whatever it answered, there is no half-made action (either
   * none, or one that runs to the end exactly), and the answer was 202 (stored, published later) or
   * 503 with Retry-After (nothing stored). Returns the status.
   */
  async function expectCreateAnsweredClearly(sent: { answer: Response; ms: number }, submitted: string[], since: number, scenario: string): Promise<number> {
    const { answer } = sent;
    const answered = `${answer.status} after ${(sent.ms / 1000).toFixed(1)} s`;
    const body = await answer.text();
    const list = (await (await fetch(`${d!.base}/api/bulk-actions?accountId=${ACCOUNT}`, { headers: authHeader() })).json()) as { items: { id: string; fieldsToUpdate: { title: string } }[] };
    const stored = list.items.filter((a) => a.fieldsToUpdate.title === 'second');
    expect(stored.length, 'at most one action for the create').toBeLessThanOrEqual(1);
    if (stored.length === 1) {
      const { msToTerminal } = await expectActionInvariants({
        base: d!.base, actionId: stored[0]!.id, submitted, boundMs: BOUND_MS, since, describe: d!.output,
        written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'second', read: (ids) => d!.entities('contact', ACCOUNT, ids) },
      });
      reportFault(`${scenario}: create during the outage`, 'distributed', `${answered}, stored, published later, exact`, msToTerminal);
    } else {
      reportFault(`${scenario}: create during the outage`, 'distributed', `${answered}, nothing stored`, null);
    }
    expect([202, 503], `the create during the outage answered ${answer.status} ${body}`).toContain(answer.status);
    if (answer.status === 503) expect(answer.headers.get('retry-after')).not.toBeNull();
    expect(stored.length, `a ${answer.status} answer and what was stored agree`).toBe(answer.status === 202 ? 1 : 0);
    return answer.status;
  }

  it(`RabbitMQ stop_app for ${OUTAGE_MS / 1000} s mid-action: everything terminal within ${BOUND_MS / 1000} s of start_app, exact`, async () => {
    const { actionId, submitted, spare, theirs } = await actionUnderWay();
    await rabbit.stopApp();
    const during = createDuringOutage(spare);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await rabbit.startApp();
    const backAt = Date.now();
    const { stats, msToTerminal } = await expectActionInvariants({
      base: d!.base, actionId, submitted, boundMs: BOUND_MS, since: backAt, describe: d!.output,
      written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'first', read: (ids) => d!.entities('contact', ACCOUNT, ids) },
    });
    reportFault('RabbitMQ restarted mid-action', 'distributed', `${stats.status}, exact`, msToTerminal);
    await expectCreateAnsweredClearly(await during, spare, backAt, 'RabbitMQ restarted');
    await expectAccountUntouched(d!.base, 'contact', OTHER, theirs);
  }, BOUND_MS * 2 + 120_000);

  it(`FerretDB stopped for ${OUTAGE_MS / 1000} s mid-action: everything terminal within ${BOUND_MS / 1000} s of its restart, exact`, async () => {
    const { actionId, submitted, spare, theirs } = await actionUnderWay();
    // SIGKILL, not SIGTERM: during FerretDB 1.24's graceful shutdown (about 3 s) a heartbeat of the
    // Node driver (7.9) can start and never end, and that client then stays on "server Unknown"
    // for good, long after FerretDB is back (a known open problem, reported with this test).
    await ferret.kill('SIGKILL');
    const during = createDuringOutage(spare);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await ferret.restart();
    const backAt = Date.now();
    const { stats, msToTerminal } = await expectActionInvariants({
      base: d!.base, actionId, submitted, boundMs: BOUND_MS, since: backAt, describe: d!.output,
      written: { entityType: 'contact', accountId: ACCOUNT, field: 'title', value: 'first', read: (ids) => d!.entities('contact', ACCOUNT, ids) },
    }).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}\n--- FerretDB said:\n${ferret.output()}\n--- its state:\n${await ferretState(actionId)}`);
    });
    reportFault('FerretDB restarted mid-action', 'distributed', `${stats.status}, exact`, msToTerminal);
    await expectCreateAnsweredClearly(await during, spare, backAt, 'FerretDB restarted');
    await expectAccountUntouched(d!.base, 'contact', OTHER, theirs);
  }, BOUND_MS * 2 + 120_000);
});
