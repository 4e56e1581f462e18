/**
 * npm run bench -- --entities <n> [--batch-size <n>] [--concurrency <n>] [--duplicate-email-rate <r>] [--keep]
 * npm run bench -- --scenario stall [--entities <n>] [--keep]   (does the API stall? see scripts/bench/stall.ts)
 * npm run bench -- --scenario load [--entities <n>]   (8 concurrent actions, 4 accounts, default 400,000: scripts/bench/load.ts)
 * npm run bench -- --mode distributed --entities <n> [--workers <k> | --scaling 1,2,4] [--crm-latency-ms <ms>]
 *                  [--batch-size <n>] [--concurrency <n per worker>] [--max-write-ops <n>] [--db-process <regex>] [--server-logs <dir>] [--keep]
 *
 * One bulk update of 3 fields on n seeded contacts, through the real HTTP API of a real server
 * process, measured against the bare database work (the same updates and per-entity outcome rows
 * written to a copy of the same SQLite file with prepared statements, batch by batch).
 * Prints a table, then one line of JSON. Distributed mode: see scripts/bench/distributed.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { DATABASE_FILE } from '../src/platform';
import { runBaseline } from './bench/baseline';
import { BENCH_API_KEYS, log, printTable, round, submitAndWait } from './bench/driveAction';
import { cpuSeconds, peakRssMb, percentile } from './bench/processStats';
import { seedContacts } from './bench/seedContacts';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'embedded' },
    scenario: { type: 'string', default: 'action' },
    entities: { type: 'string', default: '100000' },
    'batch-size': { type: 'string', default: '1000' },
    // Embedded: 2 (batches at once in the one server); distributed: 1 per worker process.
    concurrency: { type: 'string' },
    'duplicate-email-rate': { type: 'string', default: '0' },
    port: { type: 'string', default: '3999' },
    keep: { type: 'boolean', default: false },
    workers: { type: 'string' },
    scaling: { type: 'string' },
    'crm-latency-ms': { type: 'string' },
    'max-write-ops': { type: 'string' },
    'db-process': { type: 'string' },
    'server-logs': { type: 'string' },
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
    const ids = await seedContacts(platformDir, ACCOUNT, entities, { duplicateEmailRate: Number(args['duplicate-email-rate']) });
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
      // Embedded whatever the shell exports (.ci/services.sh exports both): empty means unset.
      MONGODB_URL: '',
      RABBITMQ_URL: '',
      API_KEYS: BENCH_API_KEYS,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      DEMO_DATA: 'false',
      LOG_LEVEL: 'warn',
      BATCH_SIZE: String(batchSize),
      WORKER_CONCURRENCY: args.concurrency ?? '2',
      RATE_LIMIT_REQUESTS_PER_MINUTE: '1000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitUntilUp(base, server);
    const body = JSON.stringify({ accountId: ACCOUNT, entityIds: ids, fieldsToUpdate: FIELDS });
    const cpuAtCreate = cpuSeconds(server.pid!);
    const { seconds, postMs, latencies } = await submitAndWait(base, body);
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

async function embeddedOnly(): Promise<void> {
  if (args.mode !== 'embedded') throw new Error(`--mode must be embedded or distributed; got "${args.mode}"`);
  if (!['action', 'stall', 'load'].includes(args.scenario)) throw new Error(`--scenario must be action, stall or load; got "${args.scenario}"`);
  const distributedOnly = ['workers', 'scaling', 'crm-latency-ms', 'max-write-ops', 'db-process', 'server-logs'] as const;
  const given = distributedOnly.filter((name) => args[name] !== undefined);
  if (given.length > 0) throw new Error(`--${given.join(', --')}: only with --mode distributed`);
}

async function runDistributed(): Promise<void> {
  const { runDistributedBench } = await import('./bench/distributed');
  if (args.workers !== undefined && args.scaling !== undefined) throw new Error('give --workers or --scaling, not both');
  const workerCounts = (args.scaling ?? args.workers ?? '1').split(',').map((k) => positiveInt('workers', k));
  if (workerCounts.some((k, i) => i > 0 && k <= workerCounts[i - 1]!)) throw new Error('--scaling must list increasing worker counts, e.g. 1,2,4');
  if (Number(args['duplicate-email-rate']) !== 0) throw new Error('--duplicate-email-rate: embedded mode only');
  await runDistributedBench({
    entities: positiveInt('entities', args.entities),
    batchSize: positiveInt('batch-size', args['batch-size']),
    concurrency: positiveInt('concurrency', args.concurrency ?? '1'),
    workerCounts,
    crmLatencyMs: nonNegativeInt('crm-latency-ms', args['crm-latency-ms'] ?? '0'),
    // FerretDB 1.24 hangs on update commands of 50 statements or more (services/ferretdb/README.md); MongoDB takes 100,000.
    maxWriteOps: positiveInt('max-write-ops', args['max-write-ops'] ?? process.env.MONGODB_MAX_WRITE_OPS ?? '40'),
    port,
    dbProcess: args['db-process'] === undefined ? null : new RegExp(args['db-process']),
    serverLogs: args['server-logs'] ?? null,
    keep: args.keep,
  });
}

function positiveInt(name: string, raw: string): number {
  const n = nonNegativeInt(name, raw);
  if (n === 0) throw new Error(`--${name} must be a positive integer; got "${raw}"`);
  return n;
}

function nonNegativeInt(name: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new Error(`--${name} must be a non-negative integer; got "${raw}"`);
  return Number(raw);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const secs = (ms: number) => (ms / 1000).toFixed(2);

async function runStall(): Promise<void> {
  const { runStallBench } = await import('./bench/stall');
  await runStallBench({ entities: positiveInt('entities', args.entities), port, keep: args.keep });
}

async function runLoad(): Promise<void> {
  const { runLoadBench } = await import('./bench/load');
  // The parser's default (100,000) is the action scenario's; the load scenario's is the 400,000.
  const given = process.argv.slice(2).some((arg) => arg === '--entities' || arg.startsWith('--entities='));
  await runLoadBench(positiveInt('entities', given ? args.entities : '400000'));
}

const SCENARIOS: Record<string, () => Promise<void>> = { action: main, stall: runStall, load: runLoad };

(args.mode === 'distributed' ? runDistributed() : embeddedOnly().then(() => SCENARIOS[args.scenario]!())).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
