import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_ERRORS } from '../../src/errors';
import { expectApiError, getJson } from '../support/apiHelpers';
import { makeTestPlatform, type TestPlatform } from '../support/testPlatform';

/** /health, /ready, and what every unknown route or malformed URL gets. */

let t: TestPlatform;
beforeEach(async () => {
  t = await makeTestPlatform();
});
afterEach(async () => t.close());

const get = (url: string) => t.app.inject({ method: 'GET', url });

describe('GET /health (liveness)', () => {
  it('answers 200', async () => {
    const { status, body } = await getJson(t.app, '/health');
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
  });

  it('answers 200 without asking the queue or the store: an outage of either is not a reason to restart the process', async () => {
    t.platform.queue.depth = t.platform.queue.ping = t.platform.jobStore.ping = async () => {
      throw new Error('unreachable');
    };
    expect(await getJson(t.app, '/health')).toEqual({ status: 200, body: { status: 'ok' } });
  });
});

describe('GET /ready (readiness)', () => {
  it('answers 200 when the store and the queue answer', async () => {
    expect(await getJson(t.app, '/ready')).toEqual({ status: 200, body: { status: 'ready', checks: { store: { ok: true }, queue: { ok: true } } } });
  });

  it('answers 503 naming both parts once the SQLite file is closed', async () => {
    await t.platform.close();
    const { status, body } = await getJson(t.app, '/ready');
    expect(status).toBe(503);
    expect(body).toEqual({
      status: 'unavailable',
      checks: { store: { ok: false, error: expect.stringMatching(/not open/) }, queue: { ok: false, error: expect.stringMatching(/not open/) } },
    });
  });

  it('answers 503 when a part does not answer within the timeout', async () => {
    t.platform.queue.ping = () => new Promise(() => {});
    const { status, body } = await getJson(t.app, '/ready');
    expect(status).toBe(503);
    expect(body.checks).toEqual({ store: { ok: true }, queue: { ok: false, error: "the queue's ping timed out after 1000 ms" } });
  });
});

describe('unknown routes and malformed URLs', () => {
  it.each([
    ['GET', '/nope'],
    ['GET', '/api'],
    ['POST', '/api/nope'],
    ['PUT', '/api/bulk-actions'],
    ['DELETE', '/api/bulk-actions/some-id'],
    ['GET', '/api/bulk-actions/some-id/nope'],
    ['GET', '/api/entities/contact'],
  ] as const)('404 ROUTE_NOT_FOUND for %s %s', async (method, url) => {
    expectApiError(await t.app.inject({ method, url }), 404, 'ROUTE_NOT_FOUND', null);
  });

  it.each(['/api/bulk-actions/%E0%A4%A', '/api/bulk-actions/%E0%A4%A/stats', '/api/entities/contact/%E0%A4%A?accountId=acme'])(
    'a malformed percent-encoding in %s gets 400 in the error envelope',
    async (url) => {
      const res = await get(url);
      expect(res.statusCode).toBe(400);
      const body = res.json() as { error?: { code?: string; message?: unknown; details?: unknown } };
      expect(Object.keys(body)).toEqual(['error']);
      const code = body.error?.code as keyof typeof API_ERRORS;
      expect(API_ERRORS[code]?.status).toBe(400);
      expect(typeof body.error?.message).toBe('string');
      expect(typeof body.error?.details).toBe('object');
    },
  );
});
