import Database from 'better-sqlite3';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/buildApp';
import { loadConfig } from '../../src/config';
import { buildPlatform, DATABASE_FILE } from '../../src/platform';
import { expectActionInvariants } from '../support/faultInvariants';
import { exitWithin, freePort, startServer, until, type ServerProcess } from '../support/serverProcess';
import { authHeader, testApiKeys } from '../support/apiHelpers';

/**
 * How `npm start` starts and stops, embedded (issue 6: #1 two processes on one data dir, #8 the
 * shutdown deadline): real processes on a temp data dir with the demo data, driven over HTTP.
 * Distributed mode's shutdown is in lifecycleDistributed.test.ts.
 */
const servers: ServerProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.kill('SIGKILL')));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function freshDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-lifecycle-'));
  dirs.push(dir);
  return dir;
}

/** `npm start`, embedded even where CI exports the servers' URLs. */
function start(dataDir: string, port: number, env: Record<string, string> = {}): ServerProcess {
  const server = startServer({
    MONGODB_URL: '',
    RABBITMQ_URL: '',
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    WORKER_THREADS: '2',
    WORKER_CONCURRENCY: '2',
    RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
    ...env,
  });
  servers.push(server);
  return server;
}

const everyOutput = () => servers.map((s, i) => `--- process ${i} (pid ${s.child.pid}):\n${s.output()}`).join('\n');

/** Answering HTTP, and done starting (its workers run, its signal handlers drain). */
async function ready(base: string, server: ServerProcess): Promise<void> {
  await until('the server answering /health', async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 60_000, everyOutput);
  await until('the server started', async () => (server.output().includes('"msg":"started"') ? true : undefined), 60_000, everyOutput);
}

/** The first `n` demo contacts (the demo account has 5,000; some share an email and are SKIPPED). */
const demoContacts = (n: number) => Array.from({ length: n }, (_, i) => `contact-${String(i + 1).padStart(7, '0')}`);

async function createAction(base: string, entityIds: string[], title: string): Promise<string> {
  const res = await fetch(`${base}/api/bulk-actions/contact`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json' },
    body: JSON.stringify({ accountId: 'demo', entityIds, fieldsToUpdate: { title } }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function statusOf(base: string, id: string): Promise<{ status: string; processed: number }> {
  return (await (await fetch(`${base}/api/bulk-actions/${id}/stats`, { headers: authHeader() })).json()) as { status: string; processed: number };
}

describe('two processes on one data dir', () => {
  it('refuses the second at once (exit 1, naming the dir and the holder\'s pid), and the lock dies with its holder', async () => {
    const dataDir = freshDataDir();
    const [port, otherPort] = [await freePort(), await freePort()];
    const base = `http://127.0.0.1:${port}`;
    // 40 batches of 50, each entity-store call 25 ms away: the action runs while the second process tries.
    const first = start(dataDir, port, { BATCH_SIZE: '50', CRM_LATENCY_MS: '25' });
    await ready(base, first);
    const submitted = demoContacts(2000);
    const id = await createAction(base, submitted, 'Two Processes');

    const second = start(dataDir, otherPort);
    expect(await exitWithin(second, 30_000)).toBe(1);
    expect(second.output()).toContain(`Start-up error: the data dir ${dataDir} is in use by another process (pid ${first.child.pid})`);
    expect(first.child.exitCode).toBeNull(); // the first one is untouched: still running, still serving
    expect((await fetch(`${base}/health`)).ok).toBe(true);

    // SIGKILL leaves no stale lock: the kernel dropped it with the process.
    await first.kill('SIGKILL');
    const third = start(dataDir, port);
    await ready(base, third);
    expect(third.output()).not.toContain('in use by another process');
    await expectActionInvariants({ base, actionId: id, submitted, boundMs: 60_000, describe: everyOutput, written: { entityType: 'contact', accountId: 'demo', field: 'title', value: 'Two Processes' } });
  });

  it('listens before it starts its workers: a process that cannot listen takes no batch', async () => {
    const dataDir = freshDataDir();
    // An action stored and queued by a platform without workers, then closed: its batch waits in the file.
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', API_KEYS: testApiKeys() });
    const platform = await buildPlatform(config, { logger: pino({ level: 'silent' }) });
    await platform.entityStore.insertMany('contact', 'acme', [{ id: 'c1', data: { status: 'lead' } }], Date.now());
    const app = await buildApp(platform);
    const created = await app.inject({ method: 'POST', url: '/api/bulk-actions/contact', headers: authHeader(), payload: { accountId: 'acme', entityIds: ['c1'], fieldsToUpdate: { status: 'customer' } } });
    expect(created.statusCode).toBe(202);
    await app.close();
    await platform.close();

    const port = await freePort();
    const squatter = net.createServer().listen(port, '127.0.0.1');
    try {
      await new Promise((resolve) => squatter.once('listening', resolve));
      const server = start(dataDir, port);
      expect(await exitWithin(server, 30_000)).toBe(1);
      expect(server.output()).toMatch(/Start-up error: listen EADDRINUSE.*another process listens there/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
    try {
      expect(db.prepare('SELECT deliveries, lease_token FROM queue_batches').all()).toEqual([{ deliveries: 0, lease_token: null }]);
    } finally {
      db.close();
    }
  });

  it('rolls over: a process started with DATA_DIR_LOCK_WAIT_MS waits, takes over when the old one drains and exits, and nothing is lost', async () => {
    const dataDir = freshDataDir();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    // 40 batches of 50, each entity-store call 100 ms away: about 4 s of work for two consumers.
    const env = { BATCH_SIZE: '50', CRM_LATENCY_MS: '100', SHUTDOWN_TIMEOUT_MS: '10000' };
    const old = start(dataDir, port, env);
    await ready(base, old);
    const next = start(dataDir, port, { ...env, DATA_DIR_LOCK_WAIT_MS: '60000' });
    await until('the new process waiting for the data dir', async () => (next.output().includes('waiting for the process that holds the data dir') ? true : undefined), 30_000, everyOutput);

    const submitted = demoContacts(2000);
    const id = await createAction(base, submitted, 'Rolling Restart'); // the old one still serves and works
    await until('the action part-way', async () => ((await statusOf(base, id)).processed > 0 ? true : undefined), 30_000, everyOutput);
    expect((await statusOf(base, id)).status).toBe('RUNNING');

    expect(await old.kill('SIGTERM')).toBe(0);
    const oldExitedAt = Date.now();
    await until('the new process answering', async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 60_000, everyOutput);
    const gapMs = Date.now() - oldExitedAt;
    console.log(`rolling restart: the new process answered /health ${gapMs} ms after the old one exited`);
    const { msToTerminal } = await expectActionInvariants({ base, actionId: id, submitted, boundMs: 60_000, since: oldExitedAt, describe: everyOutput, written: { entityType: 'contact', accountId: 'demo', field: 'title', value: 'Rolling Restart' } });
    console.log(`rolling restart: the action completed ${msToTerminal} ms after the old process exited`);
  });
});

describe('SIGTERM (embedded)', () => {
  // Every entity-store call takes 60 s: a batch in flight hangs far past the deadline.
  const hung = { CRM_LATENCY_MS: '60000', SHUTDOWN_TIMEOUT_MS: '1000' };
  const MARGIN_MS = 4000;

  it('exits 0 by the deadline with a handler that hangs, and the next process delivers the batch again, with exact counts', async () => {
    const dataDir = freshDataDir();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = start(dataDir, port, hung);
    await ready(base, server);
    const submitted = demoContacts(20);
    const id = await createAction(base, submitted, 'Drained');
    await until('the batch in flight', async () => ((await statusOf(base, id)).status === 'RUNNING' ? true : undefined), 30_000, everyOutput);

    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    const code = await exitWithin(server, 1000 + MARGIN_MS);
    const exitMs = Date.now() - signalledAt;
    console.log(`SIGTERM to exit with a hung handler, SHUTDOWN_TIMEOUT_MS=1000 (embedded): ${exitMs} ms`);
    expect(code).toBe(0);
    // The lease was handed back at the deadline, not left to expire.
    const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
    try {
      expect(db.prepare('SELECT lease_token, last_error FROM queue_batches').all()).toEqual([{ lease_token: null, last_error: 'handed back at shutdown: still running after 1000 ms' }]);
    } finally {
      db.close();
    }

    await ready(base, start(dataDir, port));
    await expectActionInvariants({ base, actionId: id, submitted, boundMs: 30_000, describe: everyOutput, written: { entityType: 'contact', accountId: 'demo', field: 'title', value: 'Drained' } });
  });

  it('exits 0 by the deadline while an HTTP request is still in flight (a body that never finishes uploading)', async () => {
    const dataDir = freshDataDir();
    const port = await freePort();
    const server = start(dataDir, port, { SHUTDOWN_TIMEOUT_MS: '1000' });
    await ready(`http://127.0.0.1:${port}`, server);
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.on('error', () => {}); // the server ends it at exit
    socket.write(`POST /api/bulk-actions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"entityIds":[`);
    try {
      server.child.kill('SIGTERM');
      expect(await exitWithin(server, 1000 + MARGIN_MS)).toBe(0);
      expect(server.output()).toContain('HTTP requests still in flight at the shutdown deadline');
    } finally {
      socket.destroy();
    }
  });

  it('exits at once on a second SIGTERM (143), without waiting for the deadline', async () => {
    const dataDir = freshDataDir();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = start(dataDir, port, { ...hung, SHUTDOWN_TIMEOUT_MS: '120000' });
    await ready(base, server);
    const id = await createAction(base, demoContacts(20), 'Interrupted');
    await until('the batch in flight', async () => ((await statusOf(base, id)).status === 'RUNNING' ? true : undefined), 30_000, everyOutput);

    server.child.kill('SIGTERM');
    await until('the drain started', async () => (server.output().includes('stopping: no new requests or batches') ? true : undefined), 10_000, everyOutput);
    expect(await exitWithin(server, 500)).toBeNull(); // the first signal waits for the batch
    server.child.kill('SIGTERM');
    expect(await exitWithin(server, MARGIN_MS)).toBe(143);
    expect(server.output()).toContain('second signal: exiting now, without draining');
  });
});
