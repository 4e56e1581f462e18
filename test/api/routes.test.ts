import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_ERRORS } from '../../src/errors';
import { expectApiError, getJson } from '../support/apiHelpers';
import { makeTestPlatform, type TestPlatform } from '../support/testPlatform';

/** /health, and what every unknown route or malformed URL gets. */

let t: TestPlatform;
beforeEach(async () => {
  t = await makeTestPlatform();
});
afterEach(async () => t.close());

const get = (url: string) => t.app.inject({ method: 'GET', url });

describe('GET /health', () => {
  it('answers 200', async () => {
    const { status, body } = await getJson(t.app, '/health');
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok', queue: { ready: 0, unacked: 0, delayed: 0, deadLettered: 0 } });
  });

  it('answers 200 with the reason when the queue cannot be asked: the process itself is alive', async () => {
    t.platform.queue.depth = async () => {
      throw new Error('broker unreachable');
    };
    const { status, body } = await getJson(t.app, '/health');
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok', queue: null, queueError: 'broker unreachable' });
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
