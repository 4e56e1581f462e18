import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startServer, until as untilDone, type ServerProcess } from '../support/serverProcess';
import { authHeader } from '../support/apiHelpers';

/**
 * The real thing, the way a newcomer meets it: `npm start` on an empty data dir (demo data, worker
 * threads), driven over HTTP with the quick start's requests, then stopped with SIGTERM.
 */
let server: ServerProcess;
let base: string;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-e2e-'));
const until = <T>(what: string, fn: () => Promise<T | undefined>) => untilDone(what, fn, 30_000, () => `server said:\n${server.output()}`);

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // Embedded mode even where the environment names the servers (CI does, for distributed suites).
  server = startServer({ MONGODB_URL: '', RABBITMQ_URL: '', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', WORKER_THREADS: '2' });
  await until('the server answering /health', async () => ((await fetch(`${base}/health`)).ok ? true : undefined));
  // The banner comes once the workers run too (the server listens first).
  await until('the next steps printed', async () => (server.output().includes('Try it:') ? true : undefined));
});

afterAll(async () => {
  await server.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start on an empty data dir', () => {
  it('prints the next steps and serves the quick start with the demo key from the data dir', async () => {
    expect(server.output()).toContain('contact-0000001');
    // The quick start's key: printed once, kept owner-only in the data dir, acting for "demo".
    const keyFile = path.join(dataDir, 'demo-api-key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const demoKey = fs.readFileSync(keyFile, 'utf8').trim();
    expect(server.output().split(demoKey).length).toBe(2);
    const demo = authHeader(demoKey);
    const created = await fetch(`${base}/api/bulk-actions/contact`, {
      method: 'POST',
      headers: { ...demo, 'content-type': 'application/json' },
      body: JSON.stringify({ entityIds: ['contact-0000001', 'contact-0000002', 'other-contact-0000001'], fieldsToUpdate: { title: 'Quick Start' } }),
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    expect(created.headers.get('location')).toBe(`/api/bulk-actions/${id}`);

    const stats = await until('the action completing', async () => {
      const s = (await (await fetch(`${base}/api/bulk-actions/${id}/stats`, { headers: authHeader() })).json()) as { status: string };
      return s.status === 'COMPLETED' ? s : undefined;
    });
    expect(stats).toMatchObject({ total: 3, processed: 3, succeeded: 2, failed: 1, errorsByCode: { NOT_FOUND: 1 } });
    const contact = (await (await fetch(`${base}/api/entities/contact/contact-0000001`, { headers: demo })).json()) as { title: string };
    expect(contact.title).toBe('Quick Start');
    expect((await fetch(`${base}/api/entities/contact/other-contact-0000001`, { headers: demo })).status).toBe(404);
    expect((await fetch(`${base}/api/bulk-actions/${id}`)).status).toBe(401);
    const theirs = await fetch(`${base}/api/entities/contact/other-contact-0000001?accountId=other`, { headers: authHeader() });
    expect(((await theirs.json()) as { title: string }).title).not.toBe('Quick Start');
  });

  it('runs every demo contact through to COMPLETED, then stops cleanly on SIGTERM', async () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `contact-${String(i + 1).padStart(7, '0')}`);
    const created = await fetch(`${base}/api/bulk-actions`, {
      method: 'POST',
      headers: { ...authHeader(), 'content-type': 'application/json', 'idempotency-key': 'e2e-all-contacts' },
      body: JSON.stringify({ accountId: 'demo', entityType: 'contact', entityIds: ids, fieldsToUpdate: { tags: ['e2e'] } }),
    });
    const { id } = (await created.json()) as { id: string };
    const stats = await until('the action completing', async () => {
      const s = (await (await fetch(`${base}/api/bulk-actions/${id}/stats`, { headers: authHeader() })).json()) as { status: string };
      return s.status === 'COMPLETED' ? s : undefined;
    });
    // The demo contacts share a few emails: those are skipped, everything else succeeds.
    expect(stats).toMatchObject({ total: 5000, processed: 5000, failed: 0 });
    const { succeeded, skipped, errorsByCode } = stats as unknown as { succeeded: number; skipped: number; errorsByCode: Record<string, number> };
    expect(succeeded + skipped).toBe(5000);
    expect(skipped).toBeGreaterThan(0);
    expect(errorsByCode).toEqual({ DUPLICATE_EMAIL: skipped });

    expect(await server.kill('SIGTERM')).toBe(0);
  });
});
