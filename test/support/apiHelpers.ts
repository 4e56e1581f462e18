import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { ApiErrorCode } from '../../src/errors';
import { BaseEntityHandler } from '../../src/handlers/BaseEntityHandler';
import type { EntitySchema } from '../../src/handlers/fieldSchema';
import { handlers, type HandlerRegistry } from '../../src/handlers/index';
import type { FieldUpdates } from '../../src/types/entities';
import type { TestPlatform } from './testPlatform';

/** Helpers for driving the HTTP API through app.inject() in test/api. */

export type Json = Record<string, unknown>;

/**
 * The admin key every test platform and test server accepts (API_KEYS, `*`): it may act for any
 * account, so a test that is not about tenants names its accounts in bodies and queries as before.
 */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';
/** API_KEYS for a test server: the admin key, plus `extra` (e.g. `key:acme`). */
export function testApiKeys(...extra: string[]): string {
  return [`${TEST_ADMIN_KEY}:*`, ...extra].join(',');
}
/** `{ authorization: 'Bearer <key>' }`, the admin key by default: for fetch() and inject(). */
export function authHeader(key: string = TEST_ADMIN_KEY): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

/** A valid POST /api/bulk-actions body; `overrides` replace (or, with undefined, remove) keys. */
export function createBody(overrides: Record<string, unknown> = {}): Json {
  const body: Json = { accountId: 'acme', entityType: 'contact', entityIds: ['c1', 'c2'], fieldsToUpdate: { status: 'customer' } };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete body[key];
    else body[key] = value;
  }
  return body;
}

export function postJson(app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json', ...headers } });
}

/** Sends `raw` byte-for-byte, e.g. JSON with a literal "__proto__" key or a malformed document. */
export function postRaw(app: FastifyInstance, url: string, raw: string, contentType = 'application/json') {
  return app.inject({ method: 'POST', url, payload: raw, headers: { 'content-type': contentType } });
}

export function createAction(app: FastifyInstance, body: Json, headers: Record<string, string> = {}) {
  return postJson(app, '/api/bulk-actions', body, headers);
}

/** Creates an action that must be accepted and returns its id. */
export async function createdId(app: FastifyInstance, body: Json, headers: Record<string, string> = {}): Promise<string> {
  const res = await createAction(app, body, headers);
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as { id: string }).id;
}

export async function getJson(app: FastifyInstance, url: string): Promise<{ status: number; body: Json }> {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, body: res.json() as Json };
}

/**
 * Asserts the error envelope exactly: `{ error: { code, message, details } }` and nothing else.
 * `field` is the expected details.field; null means the error names no field.
 */
export function expectApiError(res: LightMyRequestResponse, status: number, code: ApiErrorCode, field: string | null): Json {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  const body = res.json() as { error: { code: string; message: unknown; details: Json } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error)).toEqual(['code', 'message', 'details']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect((body.error.message as string).length).toBeGreaterThan(0);
  if (field === null) expect(body.error.details).not.toHaveProperty('field');
  else expect(body.error.details.field).toBe(field);
  return body.error.details;
}

/** `total` of GET /api/bulk-actions with the given query string (no leading "?"). */
export async function listTotal(app: FastifyInstance, query = ''): Promise<number> {
  const { status, body } = await getJson(app, `/api/bulk-actions${query ? `?${query}` : ''}`);
  expect(status).toBe(200);
  return body.total as number;
}

export interface LogItem {
  entityId: string;
  status: 'SUCCESS' | 'FAILED' | 'SKIPPED';
  code: string | null;
  message: string | null;
  processedAt: string;
}

/** Every log row of an action, read page by page with `limit` rows per page. */
export async function allLogs(app: FastifyInstance, actionId: string, limit: number, status?: string): Promise<LogItem[]> {
  const items: LogItem[] = [];
  for (let page = 1; ; page++) {
    const filter = status ? `&status=${status}` : '';
    const { status: code, body } = await getJson(app, `/api/bulk-actions/${actionId}/logs?page=${page}&limit=${limit}${filter}`);
    expect(code).toBe(200);
    const pageItems = body.items as LogItem[];
    expect(pageItems.length).toBeLessThanOrEqual(limit);
    items.push(...pageItems);
    if (items.length >= (body.total as number) || pageItems.length === 0) return items;
  }
}

/** Seeds entities of one type in one account: `{ id: data }`. */
export async function seed(t: TestPlatform, entityType: string, accountId: string, records: Record<string, Json>): Promise<void> {
  const entities = Object.entries(records).map(([id, data]) => ({ id, data }));
  await t.platform.entityStore.insertMany(entityType, accountId, entities, Date.now());
}

export function expectIsoString(value: unknown): void {
  expect(typeof value).toBe('string');
  expect(new Date(value as string).toISOString()).toBe(value);
}

/** A type written as the spec's extension guide shows: no field schema, no dedupe key, so any field name and flat value. */
export class NoteHandler extends BaseEntityHandler {
  constructor() {
    super('note');
  }

  async validateEntity(entityId: string): Promise<boolean> {
    return this.crmClient.exists(entityId);
  }

  async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
    await this.crmClient.update(entityId, updates);
  }
}

/** A type with a read-only field (none of the built-in types declares one). */
export class TicketHandler extends BaseEntityHandler {
  override readonly fields: EntitySchema = {
    subject: { type: 'string', maxLength: 200 },
    ticketNo: { type: 'integer', min: 1, readOnly: true },
  };

  constructor() {
    super('ticket');
  }

  async validateEntity(entityId: string): Promise<boolean> {
    return this.crmClient.exists(entityId);
  }

  async updateEntity(entityId: string, updates: FieldUpdates): Promise<void> {
    await this.crmClient.update(entityId, updates);
  }
}

/** The built-in registry plus `ticket`. */
export const registryWithTicket: HandlerRegistry = { ...handlers, ticket: new TicketHandler() };
