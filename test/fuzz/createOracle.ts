import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { API_ERRORS } from '../../src/errors';
import { getJson } from '../support/apiHelpers';
import type { TestPlatform } from '../support/testPlatform';
import type { FuzzRequest } from './fuzzDoc';
import { canonical, exactDifference, ExactNumber, isRecord, readExactJson, type ExactValue } from './exactJson';

/**
 * What must hold for any create request, whatever its bytes (issue 7, "Fuzzing"):
 * - no 5xx but a documented 503, no answer other than 202 or a 4xx in the error envelope, which
 *   names the field when the refusal is about one value;
 * - a refused request stores nothing: the job store's action count and the queue are unchanged;
 * - an accepted request was one JSON document of UTF-8 text, and the action as the 202 and GET
 *   give it back is exactly what was sent (account, type, fields by exact value, every ID in order);
 * - 409 DUPLICATE_ACTION only repeats a request accepted before;
 * - no prototype gains a property.
 */
export class CreateOracle {
  /** Requests accepted so far, by `requestKey`: what a 409 DUPLICATE_ACTION may repeat. */
  private readonly accepted = new Set<string>();
  private readonly prototypeKeys = prototypeSnapshot();
  readonly statuses = new Map<string, number>();

  constructor(
    private readonly t: TestPlatform,
    private readonly app: FastifyInstance,
  ) {}

  async check(request: FuzzRequest): Promise<void> {
    const before = await this.storeCounts();
    // app.inject, as the other helpers do: a test platform's app adds the test key itself.
    const res = await this.app.inject({ method: 'POST', url: request.url, payload: request.body, headers: { 'content-type': 'application/json' } });
    const code = res.statusCode === 202 ? '202' : `${res.statusCode} ${errorCode(res)}`;
    this.statuses.set(code, (this.statuses.get(code) ?? 0) + 1);

    const sent = readExactJson(request.body);
    if (res.statusCode === 202) {
      expect(sent, 'accepted a body that is not one JSON document of UTF-8 text').toMatchObject({ ok: true });
      if (!sent.ok) return;
      await this.checkAccepted(request, res, sent.value, before);
    } else {
      expectErrorEnvelope(res);
      expect(await this.storeCounts(), `${res.statusCode} ${res.body.slice(0, 200)} but the store changed`).toEqual(before);
      if (errorCode(res) === 'DUPLICATE_ACTION' && sent.ok) {
        const key = requestKey(sent.value, routeType(request.url));
        if (key !== null) expect(this.accepted.has(key), `409 DUPLICATE_ACTION for a request never accepted: ${res.body}`).toBe(true);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBe(undefined);
    expect(prototypeSnapshot()).toEqual(this.prototypeKeys);
  }

  private async checkAccepted(request: FuzzRequest, res: LightMyRequestResponse, sent: ExactValue, before: StoreCounts): Promise<void> {
    expect(isRecord(sent)).toBe(true);
    if (!isRecord(sent)) return;
    const type = routeType(request.url) ?? sent.entityType;
    const created = fromParsed(res.json());
    if (!isRecord(created)) throw new Error(`202 body is not an object: ${res.body}`);
    const id = created.id as string;
    const stored = await getJson(this.app, `/api/bulk-actions/${id}`);
    expect(stored.status).toBe(200);
    // Every difference at once: one defect (a lone surrogate in the account) must not hide another.
    const differences: string[] = [];
    const compare = (what: string, sentValue: ExactValue | undefined, got: ExactValue | undefined) => {
      const difference = exactDifference(sentValue ?? null, got ?? null);
      if (difference !== null) differences.push(`${what} ${difference}`);
    };
    const ids = sent.entityIds as ExactValue[];
    for (const [answer, view] of [['202', created], ['GET', fromParsed(stored.body)]] as const) {
      if (!isRecord(view)) throw new Error(`${answer} is not an object`);
      if (sent.accountId !== undefined) compare(`${answer} accountId`, sent.accountId, view.accountId);
      compare(`${answer} entityType`, type, view.entityType);
      compare(`${answer} fieldsToUpdate`, sent.fieldsToUpdate, view.fieldsToUpdate);
      compare(`${answer} totalEntities`, new ExactNumber(String(ids.length)), view.totalEntities);
    }
    // The IDs as stored: the batch plan, put back in request order.
    const plan = await this.t.platform.jobStore.batchPlan(id);
    const storedIds: string[] = [];
    for (const batch of plan) batch.seqs.forEach((seq, i) => (storedIds[seq] = batch.entityIds[i]!));
    compare('stored entityIds', ids, storedIds);
    expect(differences, 'accepted (202), but not kept exactly as sent').toEqual([]);
    const after = await this.storeCounts();
    expect(after).toEqual({ ...before, actions: before.actions + 1, ready: before.ready + plan.length });
    const key = requestKey(sent, typeof type === 'string' ? type : null, (created.accountId as string) ?? null);
    if (key !== null) this.accepted.add(key);
  }

  private async storeCounts() {
    const byStatus = await this.t.platform.jobStore.countActionsByStatus();
    const depth = await this.t.platform.queue.depth();
    return { actions: Object.values(byStatus).reduce((a, b) => a + b, 0), ...depth };
  }
}

type StoreCounts = Awaited<ReturnType<CreateOracle['storeCounts']>>;

/** A 4xx or a documented 503 in exactly `{ error: { code, message, details } }`, its status the catalogue's. */
function expectErrorEnvelope(res: LightMyRequestResponse): void {
  const documented503 = ['SERVER_BUSY', 'STORE_UNAVAILABLE', 'CREATE_INTERRUPTED'];
  const ok = (res.statusCode >= 400 && res.statusCode < 500) || (res.statusCode === 503 && documented503.includes(errorCode(res) ?? ''));
  expect(ok, `answered ${res.statusCode}: ${res.body.slice(0, 300)}`).toBe(true);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  const body = res.json() as { error: { code: string; message: unknown; details: unknown } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error)).toEqual(['code', 'message', 'details']);
  expect(Object.hasOwn(API_ERRORS, body.error.code), body.error.code).toBe(true);
  expect(res.statusCode).toBe(API_ERRORS[body.error.code as keyof typeof API_ERRORS].status);
  expect(typeof body.error.message === 'string' && body.error.message.length > 0).toBe(true);
  expect(typeof body.error.details === 'object' && body.error.details !== null && !Array.isArray(body.error.details)).toBe(true);
  // A refused value is named (issue 7: "refused with 400 and the offending field").
  if (NAMES_A_FIELD.has(body.error.code)) {
    const field = (body.error.details as { field?: unknown }).field;
    // A string, but possibly empty: `{"": 1}` is refused for its key "", which is its name.
    expect(typeof field, `${body.error.code} without details.field: ${res.body.slice(0, 300)}`).toBe('string');
  }
}

/** The codes about one value of the request, whose details.field says which. */
const NAMES_A_FIELD = new Set([
  'MISSING_FIELD', 'INVALID_FIELD', 'UNKNOWN_ENTITY_TYPE', 'INVALID_ENTITY_IDS', 'TOO_MANY_ENTITY_IDS', 'EMPTY_UPDATE', 'UNKNOWN_UPDATE_FIELD',
  'INVALID_UPDATE_VALUE', 'READ_ONLY_FIELD', 'RESERVED_FIELD', 'DEDUPE_KEY_CONFLICT', 'SCHEDULING_NOT_SUPPORTED', 'INVALID_STRING',
  'UNREPRESENTABLE_NUMBER', 'TOO_MANY_UPDATE_FIELDS', 'UPDATE_RULE_VIOLATED',
]);

function errorCode(res: LightMyRequestResponse): string | undefined {
  try {
    return (res.json() as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

function routeType(url: string): string | null {
  const segment = /^\/api\/bulk-actions\/([^/?]+)$/.exec(url)?.[1];
  if (segment === undefined) return null;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not UTF-8 once decoded: no registered type has such a name
  }
}

/** Same key, same request, as the duplicate window should see it; null when the key's parts are not all there. */
function requestKey(sent: ExactValue, type: string | null, account: string | null = null): string | null {
  if (!isRecord(sent)) return null;
  const accountId = sent.accountId ?? account;
  const entityType = type ?? sent.entityType;
  if (accountId === null || entityType === undefined || !isRecord(sent.fieldsToUpdate)) return null;
  const fields = sent.fieldsToUpdate;
  return canonical([accountId, entityType, Object.keys(fields).sort().map((k) => [k, fields[k]!]), sent.entityIds ?? null]);
}

/** A value from JSON.parse of the platform's own JSON.stringify output: its numbers written back the same way. */
function fromParsed(value: unknown): ExactValue {
  if (typeof value === 'number') return new ExactNumber(JSON.stringify(value));
  if (Array.isArray(value)) return value.map(fromParsed);
  if (typeof value === 'object' && value !== null) {
    const out = Object.create(null) as Record<string, ExactValue>;
    for (const key of Object.keys(value)) out[key] = fromParsed((value as Record<string, unknown>)[key]);
    return out;
  }
  return value as ExactValue;
}

function prototypeSnapshot() {
  return [Object.prototype, Array.prototype, Function.prototype, String.prototype].map((p) => Object.getOwnPropertyNames(p).sort());
}
