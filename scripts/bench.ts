/**
 * npm run bench -- --entities <n> [--batch-size <n>] [--concurrency <n>] [--duplicate-email-rate <r>] [--keep]
 *
 * One bulk update of 3 fields on n seeded contacts, through the real HTTP API of a real server
 * process, measured against the bare database work (the same updates and per-entity outcome rows
 * written to a copy of the same SQLite file with prepared statements, batch by batch).
 * Prints a table, then one line of JSON.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/adapters/sqlite/database';
import { SqliteEntityStore } from '../src/adapters/sqlite/sqliteEntityStore';
import { handlerFor, handlers } from '../src/handlers/index';
import { DATABASE_FILE } from '../src/platform';
import { seedEntities } from '../src/seeding/generateEntities';
import { runBaseline } from './bench/baseline';

const { values: args } = parseArgs({
  options: {
    entities: { type: 'string', default: '100000' },
    'batch-size': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '2' },
    'duplicate-email-rate': { type: 'string', default: '0' },
    port: { type: 'string', default: '3999' },
    keep: { type: 'boolean', default: false },
  },
});
const entities = Number(args.entities);
const batchSize = Number(args['batch-size']);
const port = Number(args.port);
const ACCOUNT = 'bench';
const FIELDS = { status: 'customer', title: 'Head of Revenue', company: 'Initech' };

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bulk-bench-'));
  const platformDir = path.join(root, 'platform');
  const baselineDir = path.join(root, 'baseline');
  try {
    log(`seeding ${entities} contacts into ${platformDir}`);
    const seedStart = performance.now();
    const ids = await seed(platformDir);
    log(`seeded in ${secs(performance.now() - seedStart)} s; copying for the baseline`);
    fs.mkdirSync(baselineDir);
    fs.copyFileSync(path.join(platformDir, DATABASE_FILE), path.join(baselineDir, DATABASE_FILE));

    const platform = await runPlatform(platformDir, ids);
    log(`platform done in ${platform.seconds.toFixed(2)} s; running the baseline`);
    const baselineSeconds = runBaseline(path.join(baselineDir, DATABASE_FILE), ACCOUNT, ids, FIELDS, batchSize);

    const result = {
      entities,
      platformSeconds: round(platform.seconds),
      baselineSeconds: round(baselineSeconds),
      ratio: round(platform.seconds / baselineSeconds),
      entitiesPerSecond: Math.round(entities / platform.seconds),
      postSeconds: round(platform.postSeconds),
      statusP99Ms: round(platform.statusP99Ms),
      peakRssMb: Math.round(platform.peakRssMb),
      serverCpuSeconds: round(platform.serverCpuSeconds),
    };
    printTable(result, platform.polls);
    console.log(JSON.stringify(result));
  } finally {
    if (!args.keep) fs.rmSync(root, { recursive: true, force: true });
    else log(`kept ${root}`);
  }
}

async function seed(dir: string): Promise<string[]> {
  const db = openDatabase(path.join(dir, DATABASE_FILE));
  const store = new SqliteEntityStore(db, (t) => handlerFor(handlers, t)?.dedupeKey);
  const ids: string[] = [];
  await seedEntities(store, 'contact', ACCOUNT, entities, {
    idPrefix: 'contact-',
    duplicateEmailRate: Number(args['duplicate-email-rate']),
    idSink: (chunk) => ids.push(...chunk),
  });
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return ids;
}

interface PlatformRun {
  seconds: number;
  postSeconds: number;
  statusP99Ms: number;
  peakRssMb: number;
  /** CPU the server used (all threads) from create to COMPLETED: shows whether both cores were busy. */
  serverCpuSeconds: number;
  polls: number;
}

async function runPlatform(dataDir: string, ids: string[]): Promise<PlatformRun> {
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      DEMO_DATA: 'false',
      LOG_LEVEL: 'warn',
      BATCH_SIZE: String(batchSize),
      WORKER_CONCURRENCY: args.concurrency,
      RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitUntilUp(base, server);
    const body = JSON.stringify({ accountId: ACCOUNT, entityIds: ids, fieldsToUpdate: FIELDS });
    const cpuAtCreate = cpuSeconds(server.pid!);
    const start = performance.now();
    const res = await fetch(`${base}/api/bulk-actions/contact`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const postMs = performance.now() - start;
    if (res.status !== 202) throw new Error(`create answered ${res.status}: ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };

    const latencies: number[] = [];
    let status = 'PENDING';
    while (!['COMPLETED', 'FAILED', 'CANCELLED'].includes(status)) {
      const tick = performance.now();
      const stats = (await (await fetch(`${base}/api/bulk-actions/${id}/stats`)).json()) as { status: string };
      latencies.push(performance.now() - tick);
      status = stats.status;
      await sleep(Math.max(0, 100 - (performance.now() - tick)));
    }
    const seconds = (performance.now() - start) / 1000;
    if (status !== 'COMPLETED') throw new Error(`action ended ${status}`);
    return {
      seconds,
      postSeconds: postMs / 1000,
      statusP99Ms: percentile(latencies, 0.99),
      peakRssMb: peakRssMb(server.pid!),
      serverCpuSeconds: cpuSeconds(server.pid!) - cpuAtCreate,
      polls: latencies.length,
    };
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
}

async function waitUntilUp(base: string, server: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (server.exitCode !== null) throw new Error(`server exited with ${server.exitCode}`);
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error('server did not come up in 30 s');
}

/** High-water mark of the server's resident memory, from the kernel. */
function peakRssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/** user + system CPU of a process, all threads, from the kernel (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
}

function printTable(r: Record<string, number>, polls: number): void {
  console.log('');
  console.log('| measure | value |');
  console.log('| --- | --- |');
  for (const [k, v] of Object.entries(r)) console.log(`| ${k} | ${v} |`);
  console.log(`| statusPolls | ${polls} |`);
  console.log('');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number) => Math.round(n * 1000) / 1000;
const secs = (ms: number) => (ms / 1000).toFixed(2);
const log = (msg: string) => console.error(`[bench] ${msg}`);

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
