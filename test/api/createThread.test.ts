import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startCreateThread, type CreateThread } from '../../src/actions/createThread/createThread';
import type { RateDecision, RateLimiter } from '../../src/actions/rateLimiter';
import { buildApp } from '../../src/api/buildApp';
import { authHeader, createAction, createBody, expectApiError, listTotal, postJson, postRaw, registryWithTicket } from '../support/apiHelpers';
import { makeTestPlatform, withTestKey, type TestPlatform } from '../support/testPlatform';

/**
 * Creates through the create thread (what `npm start` runs) against creates on the event loop
 * (what the other test/api files drive): the same answers, byte for byte; the bound on large
 * bodies (503 SERVER_BUSY + Retry-After); a thread that dies (503 CREATE_INTERRUPTED, then a new
 * thread serves the next create).
 */

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

interface Setup {
  t: TestPlatform;
  app: FastifyInstance;
  creates: CreateThread | null;
  workers: Worker[];
}

const opened: Setup[] = [];
afterEach(async () => {
  for (const { t, app, creates } of opened.splice(0)) {
    await app.close();
    await creates?.stop();
    await t.close();
  }
});

/** A test platform whose app creates in the create thread (`thread`) or on the event loop. */
async function setUp(thread: boolean, env: Record<string, string> = {}): Promise<Setup> {
  const t = await makeTestPlatform({ MAX_ENTITY_IDS: '10', RATE_LIMIT_REQUESTS_PER_MINUTE: '4', ...env }, { handlers: registryWithTicket });
  const workers: Worker[] = [];
  const creates = thread ? await startCreateThread(t.platform, { sweepOutbox: false, onThreadStart: (w) => workers.push(w) }) : null;
  const app = thread ? withTestKey(await buildApp(t.platform, { creates: creates! })) : t.app;
  const setup = { t, app, creates, workers };
  opened.push(setup);
  return setup;
}

/** Status, the headers a client acts on, and the body, with ids numbered in order of appearance. */
function normalised(res: LightMyRequestResponse) {
  const ids = new Map<string, string>();
  const anon = (text: string) => text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => {
    if (!ids.has(id)) ids.set(id, `<id${ids.size}>`);
    return ids.get(id)!;
  });
  const h = res.headers;
  return {
    status: res.statusCode,
    headers: { type: h['content-type'], location: anon(String(h.location ?? '')), replayed: h['idempotent-replayed'], retryAfter: h['retry-after'] },
    body: anon(res.body),
  };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);

/** One conversation covering every kind of answer a create can get. */
async function conversation(app: FastifyInstance) {
  const key = { 'idempotency-key': 'order-1' };
  return [
    await createAction(app, createBody(), key), // 202
    await createAction(app, createBody(), key), // 202 replayed
    await postJson(app, '/api/bulk-actions/contact', { accountId: 'acme', entityIds: ['c1', 'c2'], fieldsToUpdate: { status: 'customer' } }, key), // replay, type route
    await createAction(app, createBody({ entityIds: ['c9'] }), key), // 409 IDEMPOTENCY_KEY_REUSED
    await createAction(app, createBody({ entityIds: ['c3', 'c3', 'c4'] })), // 202 with a repeated ID
    await createAction(app, createBody({ entityIds: ['c3', 'c3', 'c4'] })), // 409 DUPLICATE_ACTION
    await createAction(app, createBody({ accountId: undefined })), // 400 MISSING_FIELD accountId
    await createAction(app, createBody({ entityType: 'widget' })), // 400 UNKNOWN_ENTITY_TYPE
    await createAction(app, createBody({ entityIds: ids(11) })), // 400 TOO_MANY_ENTITY_IDS
    await createAction(app, createBody({ entityIds: ['ok', ''] })), // 400 INVALID_ENTITY_IDS entityIds[1]
    await createAction(app, createBody({ fieldsToUpdate: { status: 'nope' } })), // 400 INVALID_UPDATE_VALUE
    await createAction(app, createBody({ entityType: 'ticket', fieldsToUpdate: { ticketNo: 7 } })), // 400 READ_ONLY_FIELD (a test registry's type)
    await createAction(app, createBody({ entityType: 'lead', fieldsToUpdate: { email: 'a@x.io' } })), // 400 DEDUPE_KEY_CONFLICT
    await createAction(app, createBody(), { 'idempotency-key': 'k'.repeat(201) }), // 400 INVALID_FIELD Idempotency-Key
    await postJson(app, '/api/bulk-actions/contact', { ...createBody(), entityType: 'contact' }), // 400 entityType in the body
    await postRaw(app, '/api/bulk-actions', '{"accountId":'), // 400 INVALID_JSON
    await postRaw(app, '/api/bulk-actions/contact', "{accountId:'acme'}"), // 400 INVALID_JSON, type route
    await postRaw(app, '/api/bulk-actions', ''), // 400 INVALID_BODY (empty)
    await postRaw(app, '/api/bulk-actions/contact', 'null'), // 400 INVALID_BODY
    await postRaw(app, '/api/bulk-actions', '\uFEFF' + JSON.stringify(createBody({ entityIds: ['bom'] }))), // 202: a BOM is dropped
    await postRaw(app, '/api/bulk-actions', '{"__proto__":{"polluted":true},"accountId":"acme"}'), // 400 INVALID_FIELD __proto__
    await app.inject({ method: 'POST', url: '/api/bulk-actions' }), // 400 INVALID_BODY (no body)
    await postRaw(app, '/api/bulk-actions', JSON.stringify(createBody()), 'text/plain'), // 415
    await createAction(app, createBody({ entityIds: ['c5'] })), // 202: the 4th create of the minute
    await createAction(app, createBody({ entityIds: ['c6'] })), // 429 RATE_LIMITED, Retry-After
    await createAction(app, createBody({ entityIds: ids(300), accountId: 'x'.repeat(10) }), {}), // 413 over BODY_LIMIT_BYTES
  ];
}

describe('creates through the create thread', () => {
  it('answer exactly as creates on the event loop do: 202, replays, 409, 429, 400s with details.field, 413, 415', async () => {
    const answers = [];
    for (const thread of [false, true]) {
      const { t, app } = await setUp(thread, { BODY_LIMIT_BYTES: '2048' });
      vi.spyOn(t.platform, 'now').mockReturnValue(T0);
      answers.push((await conversation(app)).map(normalised));
      expect(await listTotal(app)).toBe(4);
    }
    const [onLoop, inThread] = answers;
    expect(inThread).toEqual(onLoop);
    // Not vacuous: the conversation met every kind of answer.
    expect(inThread!.map((a) => a.status)).toEqual([
      202, 202, 202, 409, 202, 409, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400, 202, 400, 400, 415, 202, 429, 413,
    ]);
    expect(inThread![1]!.headers.replayed).toBe('true');
    expect(inThread![24]!.headers.retryAfter).toBe('60');
    expect(JSON.parse(inThread![9]!.body).error.details.field).toBe('entityIds[1]');
    expect(({} as Record<string, unknown>).polluted).toBe(undefined);
  });

  it('publishes the batches of a create, and a sweep in the thread publishes what a create left unpublished', async () => {
    const { t, app, creates } = await setUp(true);
    expect((await createAction(app, createBody({ entityIds: ['a', 'b', 'a'] }))).statusCode).toBe(202);
    expect(await t.platform.queue.depth()).toMatchObject({ ready: 2 });
    const [created] = (await t.platform.jobStore.listActions({}, 0, 1)).items;
    expect(await t.platform.jobStore.listUnpublished(Date.now() + 1, 10)).toEqual([]);
    expect(created?.totalEntities).toBe(3);
    expect(await creates!.sweep()).toBe(0);
  });
});

/** A rate limiter that holds every hit until `open()`; counts the hits that arrived. */
function gatedLimiter(inner: RateLimiter) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let hits = 0;
  const limiter: RateLimiter = {
    hit: async (key, at): Promise<RateDecision> => {
      hits++;
      await opened;
      return inner.hit(key, at);
    },
  };
  return { limiter, open, hits: () => hits };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

describe('CREATE_MAX_LARGE_BODIES', () => {
  /** Over 1 KiB; `tag` makes each payload distinct (no 409 DUPLICATE_ACTION). */
  const large = (tag = '') => createBody({ entityIds: ids(10).map((id) => `${id}${tag}`.padEnd(150, '-')) });

  it.each([false, true])('admits that many large bodies at once; the next gets 503 SERVER_BUSY with Retry-After (thread: %s)', async (thread) => {
    const { t, app } = await setUp(thread, { CREATE_LARGE_BODY_BYTES: '1024', CREATE_MAX_LARGE_BODIES: '2', RATE_LIMIT_REQUESTS_PER_MINUTE: '100' });
    const gate = gatedLimiter(t.platform.rateLimiter);
    t.platform.rateLimiter = gate.limiter;
    expect(JSON.stringify(large()).length).toBeGreaterThan(1024);

    const first = createAction(app, large(), { 'idempotency-key': 'a' });
    const second = createAction(app, large(), { 'idempotency-key': 'b' });
    await until(() => gate.hits() === 2); // both are being created, held at the rate limit
    const third = await createAction(app, large(), { 'idempotency-key': 'c' });
    expectApiError(third, 503, 'SERVER_BUSY', null);
    expect(third.headers['retry-after']).toBe('2');
    // A small body is not counted against the bound.
    const small = createAction(app, createBody({ entityIds: ['s1'] }));
    await until(() => gate.hits() === 3);

    gate.open();
    expect((await first).statusCode).toBe(202);
    expect((await second).statusCode).toBe(202);
    expect((await small).statusCode).toBe(202);
    // The slots are free again.
    expect((await createAction(app, large(), { 'idempotency-key': 'c' })).statusCode).toBe(202);
    expect(await listTotal(app)).toBe(4);
  });

  it('counts a large body sent without Content-Length (chunked) once it has arrived', async () => {
    const { t, app } = await setUp(true, { CREATE_LARGE_BODY_BYTES: '1024', CREATE_MAX_LARGE_BODIES: '1', RATE_LIMIT_REQUESTS_PER_MINUTE: '100' });
    const gate = gatedLimiter(t.platform.rateLimiter);
    t.platform.rateLimiter = gate.limiter;
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const first = chunkedPost(port, JSON.stringify(large('a')));
    await until(() => gate.hits() === 1);
    const second = await chunkedPost(port, JSON.stringify(large('b')));
    expect(second.status).toBe(503);
    expect(JSON.parse(second.body).error.code).toBe('SERVER_BUSY');
    gate.open();
    expect((await first).status).toBe(202);
    expect((await chunkedPost(port, JSON.stringify(large('c')))).status).toBe(202);
  });
});

/** POST /api/bulk-actions with Transfer-Encoding: chunked (no Content-Length), in two chunks. */
function chunkedPost(port: number, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/bulk-actions', headers: { ...authHeader(), 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.write(body.slice(0, 100));
    req.end(body.slice(100));
  });
}

/** The nice values of this process's threads (Linux: /proc/self/task/<tid>/stat, field 19). */
function threadNiceValues(): number[] {
  return fs.readdirSync('/proc/self/task').map((tid) => Number(fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
}

describe.skipIf(process.platform !== 'linux')('BACKGROUND_THREAD_NICE', () => {
  it('runs the create thread at that nice value, and leaves this thread alone', async () => {
    const before = threadNiceValues().filter((nice) => nice === 7).length;
    await setUp(true, { BACKGROUND_THREAD_NICE: '7' });
    expect(threadNiceValues().filter((nice) => nice === 7).length).toBe(before + 1);
    expect(os.getPriority(0)).toBe(0);
  });
});

describe('a create thread that dies', () => {
  it('answers its in-flight create 503 CREATE_INTERRUPTED with Retry-After, and a new thread serves the next create', async () => {
    const { t, app, workers } = await setUp(true, { RATE_LIMIT_REQUESTS_PER_MINUTE: '100' });
    const gate = gatedLimiter(t.platform.rateLimiter);
    t.platform.rateLimiter = gate.limiter;
    const inFlight = createAction(app, createBody({ entityIds: ['x1'] }), { 'idempotency-key': 'interrupted' });
    await until(() => gate.hits() === 1);

    await workers[0]!.terminate(); // ends the thread mid-create, as a crash would
    const answer = await inFlight;
    expectApiError(answer, 503, 'CREATE_INTERRUPTED', null);
    expect(answer.headers['retry-after']).toBe('1');

    gate.open();
    const retried = await createAction(app, createBody({ entityIds: ['x1'] }), { 'idempotency-key': 'interrupted' });
    expect(retried.statusCode, retried.body).toBe(202);
    expect(workers).toHaveLength(2);
    expect(await listTotal(app)).toBe(1);
  });

  it('frees the SQLite write lock it held, so the next create (and every other writer) is not left waiting', async () => {
    const { t, app, workers } = await setUp(true);
    const lock = new Int32Array(t.platform.writeLockBuffer!);
    // The lock's owner word: the holder's threadId + 1 (src/adapters/sqlite/writeLock.ts). The
    // thread cannot be stopped mid-write from here, so the test makes it the owner, then ends it.
    Atomics.store(lock, 0, workers[0]!.threadId + 1);
    await workers[0]!.terminate();
    expect(Atomics.load(lock, 0)).toBe(0);
    const res = await createAction(app, createBody());
    expect(res.statusCode, res.body).toBe(202);
  });
});
