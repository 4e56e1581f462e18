import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCreateThread, type CreateThread } from '../../src/actions/createThread/createThread';
import { requestSchemasOf } from '../../src/actions/validateRequest';
import { buildApp } from '../../src/api/buildApp';
import { registryWithTicket } from '../support/apiHelpers';
import { anyDoc, byteDamage, deepNesting, hugeString, memberMutation, mutation, text, validRequest } from '../support/arbitraries';
import { makeTestPlatform, withTestKey, type TestPlatform } from '../support/testPlatform';
import { CreateOracle } from './createOracle';
import { applyMutation, applyToMember, damage, docBytes, fuzzRequest, pathSegment, str, type Doc, type FuzzRequest } from './fuzzDoc';

/**
 * Property-based fuzzing of POST /api/bulk-actions and POST /api/bulk-actions/:entityType
 * (issue 7): every request below goes through CreateOracle (createOracle.ts), which says what
 * must hold for any bytes. `npm test` runs a fixed seed and a bounded number of cases; more:
 *
 *   FUZZ_RUNS=10000 npx vitest run test/fuzz                 # cases per property (default 30 to 200; the thread a fifth)
 *   FUZZ_SEED=random FUZZ_RUNS=2000 npx vitest run test/fuzz  # a new seed each run
 *   FUZZ_STATS=1 ...                                          # prints the answers reached, by status and code
 *
 * A failure prints fast-check's counterexample (shrunk) with its seed and path; replay it with
 *   FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz -t '<property name>'
 */

const MAX_ENTITY_IDS = 20;
const ENV = {
  MAX_ENTITY_IDS: String(MAX_ENTITY_IDS),
  BODY_LIMIT_BYTES: String(256 * 1024),
  RATE_LIMIT_REQUESTS_PER_MINUTE: '100000',
};
const registry = requestSchemasOf(registryWithTicket);
const knownKeys = [
  'accountId', 'entityType', 'entityIds', 'fieldsToUpdate', 'scheduledAt',
  ...new Set(Object.values(registry).flatMap((schema) => Object.keys(schema.fields ?? {}))),
];

/** Cases per property: FUZZ_RUNS, else the family's default; the create thread gets a fifth. */
function runsOf(defaultRuns: number, inThread: boolean): number {
  const runs = Number(process.env.FUZZ_RUNS ?? defaultRuns);
  return inThread ? Math.ceil(runs / 5) : runs;
}

function fuzzParameters(runs: number): fc.Parameters<[FuzzRequest]> {
  const seed = process.env.FUZZ_SEED ?? '20261130';
  return {
    numRuns: runs,
    ...(seed === 'random' ? {} : { seed: Number(seed) }),
    ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH, endOnFailure: true } : {}),
  };
}

/**
 * Vitest's per-test timeout, raised with FUZZ_RUNS: a property that timed out would go on sending
 * requests while the next one runs, and that one would see actions it did not create.
 */
const TIMEOUT_MS = 60_000 + Number(process.env.FUZZ_RUNS ?? 0) * 150;

const asRequest = ({ url, doc }: { url: string; doc: Doc }): FuzzRequest => fuzzRequest(url, docBytes(doc));

const valid = validRequest(registry, MAX_ENTITY_IDS);

/** Every family of input the issue names, as one arbitrary per property. */
const families: [string, fc.Arbitrary<FuzzRequest>, number][] = [
  ['valid bodies are accepted and stored exactly', valid.map(asRequest), 60],
  [
    'a valid body with one value at an edge (numbers past the safe range, lone surrogates, NUL, invalid UTF-8, lengths at a limit)',
    validRequest(registry, MAX_ENTITY_IDS, true).map(asRequest),
    150,
  ],
  [
    'a valid body with one mutation (wrong types, hostile keys and strings, numbers past the safe range, at any level)',
    fc.tuple(valid, fc.nat(), mutation(knownKeys)).map(([{ url, doc }, at, m]) => asRequest({ url, doc: applyMutation(doc, at, m) })),
    200,
  ],
  [
    'a valid body with one mutation inside fieldsToUpdate, entityIds, accountId or entityType',
    fc
      .tuple(valid, memberMutation(knownKeys, MAX_ENTITY_IDS))
      .map(([{ url, doc }, { member, at, m }]) => asRequest({ url, doc: applyToMember(doc, member, at, m) })),
    200,
  ],
  [
    'malformed bytes: truncated, trailing garbage, a byte changed, invalid UTF-8 in a string',
    fc.tuple(valid, byteDamage).map(([{ url, doc }, d]) => fuzzRequest(url, damage(docBytes(doc), d))),
    150,
  ],
  [
    'random documents and random bytes, on either route',
    fc.tuple(
      fc.oneof(anyDoc(knownKeys).map(docBytes), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), text(0, 30).map((s) => Buffer.from(s))),
      fc.oneof(fc.constant(''), fc.constantFrom(...Object.keys(registry)), fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', '\ud800', '%', '..')),
    ).map(([body, type]) => fuzzRequest(type === '' ? '/api/bulk-actions' : `/api/bulk-actions/${pathSegment(type)}`, body)),
    150,
  ],
  [
    'deep nesting and huge strings, in every place',
    fc
      .tuple(valid, fc.nat(), fc.oneof(deepNesting, hugeString.map(str)))
      .map(([{ url, doc }, at, big]) => fuzzRequest(url, docBytes(at % 4 === 0 ? big : applyMutation(doc, at, { k: 'replace', with: big })))),
    30,
  ],
];

describe.each([
  ['on the event loop', false],
  ['in the create thread', true],
] as const)('fuzzing the create endpoint %s', (_where, inThread) => {
  let t: TestPlatform;
  let app: FastifyInstance;
  let creates: CreateThread | null = null;
  let oracle: CreateOracle;

  beforeAll(async () => {
    t = await makeTestPlatform(ENV, { handlers: registryWithTicket });
    creates = inThread ? await startCreateThread(t.platform, { sweepOutbox: false }) : null;
    app = creates ? withTestKey(await buildApp(t.platform, { creates })) : t.app;
    oracle = new CreateOracle(t, app);
  });

  afterAll(async () => {
    if (creates) await app.close();
    await creates?.stop();
    await t.close();
    // What the fuzzer reached, for a reader tuning the arbitraries: answers by status and code.
    if (process.env.FUZZ_STATS) console.info(Object.fromEntries([...oracle.statuses].sort()));
  });

  // The thread path is the one `npm start` runs; it gets a fifth of the cases (same properties).
  it.each(families)(
    '%s',
    async (_name, arbitrary, runs) => {
      await fc.assert(
        fc.asyncProperty(arbitrary, (request) => oracle.check(request)),
        fuzzParameters(runsOf(runs, inThread)),
      );
    },
    TIMEOUT_MS,
  );

  it('was not vacuous: requests were accepted, and refused for reasons deep in validation', () => {
    const seen = [...oracle.statuses.keys()];
    expect(seen).toContain('202');
    // The thread gets a fifth of the cases: fewer of the rarer answers.
    const deep = inThread ? ['INVALID_UPDATE_VALUE'] : ['INVALID_UPDATE_VALUE', 'UNKNOWN_UPDATE_FIELD', 'RESERVED_FIELD', 'EMPTY_UPDATE', 'TOO_MANY_ENTITY_IDS'];
    for (const code of ['INVALID_JSON', 'INVALID_BODY', 'INVALID_FIELD', 'INVALID_ENTITY_IDS', 'PAYLOAD_TOO_LARGE', ...deep]) {
      expect(seen.some((status) => status.endsWith(` ${code}`)), code).toBe(true);
    }
  });
});
