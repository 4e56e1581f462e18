import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiKeyAuthenticator } from '../../src/auth/authenticator';
import { DEMO_KEY_FILE, ensureDemoApiKey } from '../../src/auth/demoKey';
import { issueApiKey } from '../../src/auth/issueKey';
import { runKeysCommand } from '../../src/auth/keysCommand';
import { ConfigError, loadConfig } from '../../src/config';
import { printNextSteps, seedDemoAccount } from '../../src/seeding/demo';
import { authHeader, createBody, expectApiError, postJson, seed, TEST_ADMIN_KEY } from '../support/apiHelpers';
import { makeTestPlatform, type TestPlatform } from '../support/testPlatform';

const ACME_KEY = 'key-of-acme-0123456789abcdef';

let t: TestPlatform;
afterEach(async () => {
  vi.restoreAllMocks();
  await t?.close();
});

const platform = async () => (t = await makeTestPlatform({ API_KEYS: `${ACME_KEY}:acme` }));
/** A request with exactly these headers: '' for authorization sends none. */
const get = (url: string, headers: Record<string, string> = { authorization: '' }) => t.app.inject({ method: 'GET', url, headers });

describe('API keys on /api', () => {
  it.each([
    ['no Authorization header', ''],
    ['an unknown key', 'Bearer not-a-key-of-this-platform-xyz'],
    ['a well-formed key that was never issued', `Bearer bap_0123456789abcdef_${'A'.repeat(43)}`],
    ['another scheme', `Basic ${Buffer.from(`x:${ACME_KEY}`).toString('base64')}`],
    ['the key without its scheme', ACME_KEY],
  ])('answers 401 with WWW-Authenticate: Bearer to %s, on every /api route', async (_label, authorization) => {
    await platform();
    const headers = { authorization };
    for (const res of [
      await get('/api/bulk-actions', headers),
      await get('/api/bulk-actions/some-id', headers),
      await get('/api/bulk-actions/some-id/stats', headers),
      await get('/api/bulk-actions/some-id/logs', headers),
      await get('/api/entities/contact/c1', headers),
      await postJson(t.app, '/api/bulk-actions', createBody(), headers),
      await postJson(t.app, '/api/bulk-actions/contact', createBody({ entityType: undefined }), headers),
    ]) {
      expectApiError(res, 401, 'UNAUTHORIZED', null);
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    expect(await t.platform.jobStore.listActions({}, 0, 10)).toMatchObject({ total: 0 });
  });

  it('serves /health, /ready and /metrics without a key, and /metrics names no account', async () => {
    await platform();
    await seed(t, 'contact', 'acme', { c1: { status: 'lead' } });
    expect((await postJson(t.app, '/api/bulk-actions/contact', { entityIds: ['c1'], fieldsToUpdate: { status: 'customer' } }, authHeader(ACME_KEY))).statusCode).toBe(202);
    expect((await get('/api/bulk-actions')).statusCode).toBe(401);
    for (const url of ['/health', '/ready', '/metrics']) expect((await get(url)).statusCode).toBe(200);
    const metrics = (await get('/metrics')).body;
    expect(metrics).toContain('code="UNAUTHORIZED"'); // the 401s above are counted by code
    expect(metrics).not.toContain('acme');
    expect(metrics).not.toMatch(/account_?id/i);
  });

  it.each(['api_key', 'apikey', 'api-key', 'key', 'token', 'access_token', 'Access_Token'])('refuses a key in the query string (?%s=) with 400 API_KEY_IN_QUERY, header or not', async (name) => {
    await platform();
    expectApiError(await get(`/api/bulk-actions?${name}=${ACME_KEY}`), 400, 'API_KEY_IN_QUERY', name);
    expectApiError(await get(`/api/bulk-actions?${name}=${ACME_KEY}`, authHeader(ACME_KEY)), 400, 'API_KEY_IN_QUERY', name);
  });

  it("takes the account from an account key: accountId may be left out, naming another is 403, naming its own is fine", async () => {
    await platform();
    const acme = authHeader(ACME_KEY);
    const res = await postJson(t.app, '/api/bulk-actions/contact', { entityIds: ['c1'], fieldsToUpdate: { status: 'customer' } }, acme);
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ accountId: 'acme' });
    expect((await postJson(t.app, '/api/bulk-actions', createBody({ entityIds: ['c2'] }), acme)).statusCode).toBe(202);
    expectApiError(await postJson(t.app, '/api/bulk-actions', createBody({ accountId: 'other', entityIds: ['c3'] }), acme), 403, 'ACCOUNT_FORBIDDEN', 'accountId');
    // An invalid accountId is still a 400, whoever sends it.
    expectApiError(await postJson(t.app, '/api/bulk-actions', createBody({ accountId: 7 }), acme), 400, 'INVALID_FIELD', 'accountId');
    // An admin key acts for any account, so it must name one.
    expectApiError(await postJson(t.app, '/api/bulk-actions', createBody({ accountId: undefined })), 400, 'MISSING_FIELD', 'accountId');
    expectApiError(await get('/api/entities/contact/c1', authHeader()), 400, 'MISSING_FIELD', 'accountId');
  });

  it('accepts a stored key until it is revoked, and a key is matched whole (a tampered secret is 401)', async () => {
    await platform();
    const { id, key } = await issueApiKey(t.platform.apiKeyStore, 'acme', Date.now());
    expect((await get('/api/bulk-actions', authHeader(key))).statusCode).toBe(200);
    expectApiError(await get('/api/bulk-actions', authHeader(key.slice(0, -2) + (key.endsWith('xx') ? 'yy' : 'xx'))), 401, 'UNAUTHORIZED', null);
    await t.platform.apiKeyStore.revokeKey(id, Date.now());
    // A fresh authenticator (a restarted process, or one past KEY_CACHE_MS) refuses it.
    expect(await new ApiKeyAuthenticator(t.platform.apiKeyStore, []).authenticate(key)).toBeNull();
  });
});

describe('API_KEYS', () => {
  it('parses keys with their accounts, * for admin', () => {
    expect(loadConfig({ API_KEYS: `${ACME_KEY}:acme, ${TEST_ADMIN_KEY}:*` }).apiKeys).toEqual([
      { key: ACME_KEY, accountId: 'acme' },
      { key: TEST_ADMIN_KEY, accountId: '*' },
    ]);
    expect(loadConfig({}).apiKeys).toEqual([]);
  });

  it.each([['no-colon-0123456789abcdef'], ['short:acme'], [`${ACME_KEY}:`], [`${ACME_KEY}:a,${ACME_KEY}:b`], [`has space 0123456789abcdef:acme`]])(
    'refuses %s without printing the key',
    (raw) => {
      expect(() => loadConfig({ API_KEYS: raw })).toThrow(ConfigError);
      try {
        loadConfig({ API_KEYS: raw });
      } catch (thrown) {
        expect((thrown as Error).message).not.toContain('0123456789abcdef');
      }
    },
  );
});

describe('npm run keys', () => {
  it('creates (printing the key once), lists (never the key) and revokes', async () => {
    await platform();
    const out: string[] = [];
    expect(await runKeysCommand(['create', '--account', 'acme'], t.platform.apiKeyStore, (l) => out.push(l))).toBe(0);
    const key = out[1]!;
    expect(key).toMatch(/^bap_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const id = key.slice(4, 20);
    expect((await get('/api/bulk-actions', authHeader(key))).statusCode).toBe(200);
    out.length = 0;
    expect(await runKeysCommand(['list'], t.platform.apiKeyStore, (l) => out.push(l))).toBe(0);
    expect(out[1]).toMatch(new RegExp(`^${id}\\tacme\\t\\d{4}-.*Z\\t-$`));
    expect(out.join('\n')).not.toContain(key.slice(21));
    expect(await runKeysCommand(['revoke', id], t.platform.apiKeyStore, () => {})).toBe(0);
    expect(await runKeysCommand(['revoke', 'ffffffffffffffff'], t.platform.apiKeyStore, () => {})).toBe(1);
    expect(await runKeysCommand(['frobnicate'], t.platform.apiKeyStore, () => {})).toBe(2);
    expect((await t.platform.apiKeyStore.findKey(id))?.revokedAt).not.toBeNull();
  });

  it('works on the configured data dir as a script', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-keys-'));
    try {
      const env = { ...process.env, DATA_DIR: dataDir, MONGODB_URL: '', RABBITMQ_URL: '' };
      const run = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], { env });
      const created = await run('create', '--account', 'acme');
      const key = created.stdout.trim().split('\n').at(-1)!;
      const listed = await run('list');
      expect(listed.stdout).toContain(`${key.slice(4, 20)}\tacme`);
      expect(listed.stdout).not.toContain(key);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('the demo key (embedded quick start)', () => {
  it('is created once with mode 0600, works for the demo account only, and is reused (not printed) later', async () => {
    await platform();
    const first = await ensureDemoApiKey(t.platform.apiKeyStore, t.dataDir, 'demo', Date.now());
    expect(first.file).toBe(path.join(t.dataDir, DEMO_KEY_FILE));
    expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
    const key = fs.readFileSync(first.file, 'utf8').trim();
    expect(first.createdKey).toBe(key);
    const res = await postJson(t.app, '/api/bulk-actions/contact', { entityIds: ['contact-0000001'], fieldsToUpdate: { status: 'customer' } }, authHeader(key));
    expect(res.json()).toMatchObject({ accountId: 'demo' });
    const again = await ensureDemoApiKey(t.platform.apiKeyStore, t.dataDir, 'demo', Date.now());
    expect(again).toEqual({ file: first.file, createdKey: null });
    // A revoked demo key is replaced, in a file that is 0600 from its first byte, even where the old one was 0644.
    await t.platform.apiKeyStore.revokeKey(key.slice(4, 20), Date.now());
    fs.chmodSync(first.file, 0o644);
    const inodeBefore = fs.statSync(first.file).ino;
    const replaced = await ensureDemoApiKey(t.platform.apiKeyStore, t.dataDir, 'demo', Date.now());
    expect(replaced.createdKey).not.toBeNull();
    expect(replaced.createdKey).not.toBe(key);
    expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(first.file).ino).not.toBe(inodeBefore); // a new file renamed over the old, never rewritten in place
  });

  it('the banner prints the key only when it was created, reads it from its file in every command, and passes DATA_DIR to the seed', async () => {
    await platform();
    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((text: string) => void printed.push(text));
    const first = await seedDemoAccount({ ...t.platform, handlers: { contact: t.platform.handlers.contact! } });
    printNextSteps(t.platform.config, first);
    const key = fs.readFileSync(path.join(t.dataDir, DEMO_KEY_FILE), 'utf8').trim();
    expect(printed[0]).toContain(key);
    printNextSteps(t.platform.config, await seedDemoAccount({ ...t.platform, handlers: { contact: t.platform.handlers.contact! } }));
    const banner = printed[1]!;
    expect(banner).not.toContain(key);
    const curls = banner.split('\n').filter((l) => l.includes('curl'));
    expect(curls.length).toBe(5);
    for (const line of curls) expect(line).toContain(`-H "Authorization: Bearer $(cat ${t.dataDir}/${DEMO_KEY_FILE})"`);
    expect(banner).toContain(`DATA_DIR=${t.dataDir} npm run seed -- --account acme --type contact --count 200000 --out /tmp/ids.txt`);
    expect(banner).toContain('409 DUPLICATE_ACTION');
  });
});
