/**
 * npm run bench -- --scenario stall [--entities <n>] [--keep]
 *
 * Does the API keep answering while creates, seeding and processing run (issue 6, defect 4)?
 * Four cases, each on a fresh server (embedded mode) over a copy of one seeded data dir, with
 * GET /health polled every 10 ms from a thread of the benchmark's own, after a control case with
 * no creates at all (what the machine's own load does to the same figures):
 *   1. one create of n distinct IDs;
 *   2. one create of n IDs of which only 1,000 are distinct;
 *   3. six concurrent creates of n IDs each (a 503 is retried after its Retry-After, as a client would);
 *   4. 1-ID creates, one after the other, while `npm run seed` writes n contacts into the same file.
 * Per case: the client's longest and p99 /health answer time, the server's own event-loop delay
 * (p99 and max, from its /metrics), the create answer times, the answers by status, and the
 * server's peak RSS. Prints a table, then one line of JSON.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATABASE_FILE } from '../../src/platform';
import { BENCH_AUTH, log, round } from './driveAction';
import { scrapeEventLoopDelay } from './eventLoopDelay';
import { pollHealth } from './healthPoller';
import { percentile } from './processStats';
import { seedContacts } from './seedContacts';
import { ServerGroup } from './serverGroup';

const ACCOUNT = 'bench';
/** Processing keeps running after the last create answered; the window includes this much of it. */
const TAIL_MS = 1000;
const BUSY_RETRIES = 60;

export interface StallOptions {
  entities: number;
  port: number;
  keep: boolean;
}

/** One create as the client saw it: from the first send to the final answer, 503 retries included. */
interface CreateAnswer {
  status: number;
  ms: number;
  /** 503 answers it got (and waited out) before the final one. */
  busy: number;
}

export interface StallCase {
  name: string;
  /** /health answer times (ms): the longest, and the 99th percentile. */
  healthMaxMs: number;
  healthP99Ms: number;
  healthPolls: number;
  healthFailures: number;
  /** The server's event-loop delay over the case (ms; null if it exposes none). About 10 when idle. */
  eventLoopP99Ms: number | null;
  eventLoopMaxMs: number | null;
  creates: number;
  /** Final answers by status, e.g. {"202": 6}. */
  statuses: Record<string, number>;
  /** 503 answers that were retried. */
  busyAnswers: number;
  createMaxMs: number;
  createP50Ms: number;
  peakRssMb: number;
  seconds: number;
  seedSeconds?: number;
}

export async function runStallBench(options: StallOptions): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-stall-'));
  try {
    const seededDir = path.join(root, 'seeded');
    log(`seeding ${options.entities} contacts into ${seededDir}`);
    const ids = await seedContacts(seededDir, ACCOUNT, options.entities);
    const n = ids.length;
    const body = (entityIds: string[], title: string) => JSON.stringify({ accountId: ACCOUNT, entityIds, fieldsToUpdate: { title } });
    const repeated = Array.from({ length: n }, (_, i) => ids[i % 1000]!);

    const cases: StallCase[] = [];
    const run = (name: string, drive: (base: string, dataDir: string) => Promise<{ answers: CreateAnswer[]; seedSeconds?: number }>) =>
      runCase(root, seededDir, options.port, name, drive).then((result) => {
        cases.push(result);
        log(`${name}: /health max ${round(result.healthMaxMs)} ms, event loop max ${result.eventLoopMaxMs === null ? 'n/a' : round(result.eventLoopMaxMs)} ms`);
      });

    await run('idle: no creates (control)', async () => {
      await sleep(2000);
      return { answers: [] };
    });
    await run(`1 create, ${n} IDs`, async (base) => ({ answers: [await create(base, body(ids, 'one'))] }));
    await run(`1 create, ${n} IDs, 1,000 distinct`, async (base) => ({ answers: [await create(base, body(repeated, 'repeated'))] }));
    const six = Array.from({ length: 6 }, (_, k) => body(ids, `six-${k}`));
    await run(`6 concurrent creates, ${n} IDs each`, async (base) => ({ answers: await Promise.all(six.map((b) => create(base, b))) }));
    await run(`1-ID creates during seed of ${n}`, async (base, dataDir) => createsDuringSeed(base, dataDir, n, ids));

    printCases(cases);
    console.log(JSON.stringify({ scenario: 'stall', entities: n, cases: cases.map(roundCase) }));
  } finally {
    if (!options.keep) fs.rmSync(root, { recursive: true, force: true });
    else log(`kept ${root}`);
  }
}

/** A fresh server on a fresh copy of the seeded data dir; the window runs from the first create to TAIL_MS after the last answer. */
async function runCase(
  root: string,
  seededDir: string,
  port: number,
  name: string,
  drive: (base: string, dataDir: string) => Promise<{ answers: CreateAnswer[]; seedSeconds?: number }>,
): Promise<StallCase> {
  const dataDir = fs.mkdtempSync(path.join(root, 'case-'));
  fs.copyFileSync(path.join(seededDir, DATABASE_FILE), path.join(dataDir, DATABASE_FILE));
  const group = new ServerGroup();
  try {
    const server = group.start(
      'server',
      {
        // Embedded whatever the shell exports (.ci/services.sh exports both): empty means unset.
        MONGODB_URL: '',
        RABBITMQ_URL: '',
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        DEMO_DATA: 'false',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_REQUESTS_PER_MINUTE: '100000',
      },
      [],
    );
    const base = `http://127.0.0.1:${port}`;
    await group.waitForHealth(base);
    await sleep(500); // start-up work (worker threads loading) is not what is measured
    await scrapeEventLoopDelay(base); // starts the server's window
    const poller = pollHealth(base);
    const start = performance.now();
    const { answers, seedSeconds } = await drive(base, dataDir);
    await sleep(TAIL_MS);
    const polls = await poller.stop();
    const seconds = (performance.now() - start) / 1000;
    const loop = await scrapeEventLoopDelay(base);
    group.assertRunning();
    const statuses: Record<string, number> = {};
    for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    const times = answers.map((a) => a.ms);
    return {
      name,
      healthMaxMs: Math.max(0, ...polls.latencies),
      healthP99Ms: percentile(polls.latencies, 0.99),
      healthPolls: polls.latencies.length,
      healthFailures: polls.failures,
      eventLoopP99Ms: loop?.p99Ms ?? null,
      eventLoopMaxMs: loop?.maxMs ?? null,
      creates: answers.length,
      statuses,
      busyAnswers: answers.reduce((sum, a) => sum + a.busy, 0),
      createMaxMs: Math.max(0, ...times),
      createP50Ms: percentile(times, 0.5),
      peakRssMb: server.peakRssMb(),
      seconds,
      ...(seedSeconds === undefined ? {} : { seedSeconds }),
    };
  } finally {
    await group.stopAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** POSTs a create; a 503 is retried after its Retry-After (at most BUSY_RETRIES times). */
async function create(base: string, body: string): Promise<CreateAnswer> {
  const start = performance.now();
  for (let busy = 0; ; busy++) {
    const res = await fetch(`${base}/api/bulk-actions/contact`, { method: 'POST', headers: { ...BENCH_AUTH, 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    if (res.status !== 503 || busy === BUSY_RETRIES) return { status: res.status, ms: performance.now() - start, busy };
    await sleep(Number(res.headers.get('retry-after') ?? '1') * 1000);
  }
}

/** `npm run seed` of n contacts into the server's data dir (another process), and 1-ID creates every 100 ms until it ends. */
async function createsDuringSeed(base: string, dataDir: string, n: number, ids: string[]): Promise<{ answers: CreateAnswer[]; seedSeconds: number }> {
  const seedStart = performance.now();
  const seeder = spawn(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', '--account', 'seeding', '--type', 'contact', '--count', String(n)], {
    env: { ...process.env, MONGODB_URL: '', RABBITMQ_URL: '', DATA_DIR: dataDir },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => seeder.once('exit', resolve));
  let running = true;
  void exited.then(() => (running = false));
  const answers: CreateAnswer[] = [];
  for (let k = 0; running; k++) {
    answers.push(await create(base, JSON.stringify({ accountId: ACCOUNT, entityIds: [ids[k % ids.length]], fieldsToUpdate: { title: `during-seed-${k}` } })));
    await sleep(100);
  }
  const code = await exited;
  if (code !== 0) throw new Error(`npm run seed exited with ${code}`);
  return { answers, seedSeconds: (performance.now() - seedStart) / 1000 };
}

function roundCase(c: StallCase): StallCase {
  const r = (v: number | null) => (v === null ? null : round(v));
  return {
    ...c,
    healthMaxMs: round(c.healthMaxMs),
    healthP99Ms: round(c.healthP99Ms),
    eventLoopP99Ms: r(c.eventLoopP99Ms),
    eventLoopMaxMs: r(c.eventLoopMaxMs),
    createMaxMs: round(c.createMaxMs),
    createP50Ms: round(c.createP50Ms),
    peakRssMb: Math.round(c.peakRssMb),
    seconds: round(c.seconds),
    ...(c.seedSeconds === undefined ? {} : { seedSeconds: round(c.seedSeconds) }),
  };
}

function printCases(cases: StallCase[]): void {
  const ms = (v: number | null) => (v === null ? 'n/a' : v.toFixed(1));
  console.log('');
  console.log('| case | /health max ms | /health p99 ms | event loop p99 ms | event loop max ms | creates (status) | create max ms | create p50 ms | 503s retried | peak RSS MB |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const c of cases) {
    const statuses = Object.entries(c.statuses).map(([s, k]) => `${k}x${s}`).join(' ');
    console.log(
      `| ${c.name} | ${ms(c.healthMaxMs)} | ${ms(c.healthP99Ms)} | ${ms(c.eventLoopP99Ms)} | ${ms(c.eventLoopMaxMs)} | ${statuses} | ` +
        `${ms(c.createMaxMs)} | ${ms(c.createP50Ms)} | ${c.busyAnswers} | ${Math.round(c.peakRssMb)} |`,
    );
  }
  console.log('');
}
