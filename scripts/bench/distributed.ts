/**
 * `npm run bench -- --mode distributed`: one bulk update through an API process and k worker
 * processes on MongoDB and RabbitMQ, measured against the bare MongoDB work of the same update
 * (scripts/bench/mongoBaseline.ts), optionally for several worker counts (`--scaling 1,2,4`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runDistributedPlatform, type DistributedRun } from './distributedPlatform';
import { deleteQueues, dropDatabases } from '../realServers';
import { countUpdated, seedContacts, serverEnv, servicesFromEnv, uniqueRunName, type Services } from './distributedResources';
import { runMongoBaseline } from './mongoBaseline';
import { log, printTable, round } from './driveAction';
import { cpuSecondsOfMatching } from './processStats';

export interface DistributedBenchOptions {
  entities: number;
  batchSize: number;
  /** Batches in flight per worker process (WORKER_CONCURRENCY). */
  concurrency: number;
  /** Worker processes of each run, in order: [k], or the --scaling list. */
  workerCounts: number[];
  crmLatencyMs: number;
  maxWriteOps: number;
  port: number;
  /** Processes whose command line matches are the database side (FerretDB, PostgreSQL): their CPU is reported. */
  dbProcess: RegExp | null;
  /** Where to write the servers' output, one directory per run (`<dir>/w<k>/`); null: kept in memory only. */
  serverLogs: string | null;
  keep: boolean;
}

const ACCOUNT = 'bench';
const FIELDS = { status: 'customer', title: 'Head of Revenue', company: 'Initech' };
/** The issue's goals for worker scaling, as speedups over one worker. */
const SCALING_GOALS: Record<number, number> = { 2: 1.8, 4: 3.2 };

export async function runDistributedBench(options: DistributedBenchOptions): Promise<void> {
  const services = servicesFromEnv(process.env);
  const runName = uniqueRunName();
  const databases: string[] = [];
  const queues: string[] = [];
  const settings = {
    BATCH_SIZE: String(options.batchSize),
    WORKER_CONCURRENCY: String(options.concurrency),
    CRM_LATENCY_MS: String(options.crmLatencyMs),
    MONGODB_MAX_WRITE_OPS: String(options.maxWriteOps),
  };
  const envOf = (suffix: string) => {
    databases.push(`${runName}_${suffix}`);
    queues.push(`${runName}_${suffix}`);
    return serverEnv(services, `${runName}_${suffix}`, `${runName}_${suffix}`, settings);
  };
  log(`run ${runName}: databases and queues ${runName}_*`);
  try {
    const baselineEnv = envOf('baseline');
    let ids = await seed(baselineEnv, options.entities, 'the baseline');
    const results: Result[] = [];
    for (const workers of options.workerCounts) {
      const env = envOf(`w${workers}`);
      ids = await seed(env, options.entities, `the ${workers}-worker run`);
      log(`running the platform: 1 API and ${workers} worker process(es), concurrency ${options.concurrency} each`);
      const run = await runDistributedPlatform({ env, workers, port: options.port, accountId: ACCOUNT, ids, fields: FIELDS, dbProcess: options.dbProcess, logDir: logDirFor(options.serverLogs, workers) });
      log(`platform done in ${run.seconds.toFixed(2)} s`);
      await expectAllUpdated(services, env.MONGODB_DATABASE!, ids.length, `the ${workers}-worker run`);
      results.push({ workers, run });
    }
    log('running the raw baseline (one batch at a time)');
    const dbCpuBefore = options.dbProcess === null ? null : cpuSecondsOfMatching(options.dbProcess);
    const baselineSeconds = await runMongoBaseline({
      url: services.mongodbUrl,
      database: baselineEnv.MONGODB_DATABASE!,
      accountId: ACCOUNT,
      ids,
      fields: FIELDS,
      batchSize: options.batchSize,
      crmLatencyMs: options.crmLatencyMs,
      maxWriteOps: options.maxWriteOps,
    });
    // The database's CPU is the baseline's work with less of the noise of a shared machine's load.
    const baselineDbCpuSeconds = dbCpuBefore === null ? null : cpuSecondsOfMatching(options.dbProcess!) - dbCpuBefore;
    log(`baseline done in ${baselineSeconds.toFixed(2)} s`);
    await expectAllUpdated(services, baselineEnv.MONGODB_DATABASE!, ids.length, 'the baseline');
    report(options, results, baselineSeconds, baselineDbCpuSeconds);
  } finally {
    await cleanUp(services, databases, queues, options.keep);
  }
}

interface Result {
  workers: number;
  run: DistributedRun;
}

/** Not timed: a run that did not write every entity is reported as a failure, not as a speed. */
async function expectAllUpdated(services: Services, database: string, count: number, what: string): Promise<void> {
  const updated = await countUpdated(services.mongodbUrl, database, ACCOUNT, FIELDS);
  if (updated !== count) throw new Error(`${what} updated ${updated} of ${count} contacts`);
}

async function seed(env: Record<string, string>, count: number, what: string): Promise<string[]> {
  const started = performance.now();
  const ids = await seedContacts(env, ACCOUNT, count);
  log(`seeded ${ids.length} contacts into ${env.MONGODB_DATABASE} for ${what} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return ids;
}

function report(options: DistributedBenchOptions, results: Result[], baselineSeconds: number, baselineDbCpuSeconds: number | null): void {
  const lines = results.map(({ workers, run }) => {
    // The baseline runs one batch at a time: only one worker with concurrency 1 does the same.
    const likeForLike = workers === 1 && options.concurrency === 1;
    const line = {
      entities: options.entities,
      platformSeconds: round(run.seconds),
      baselineSeconds: round(baselineSeconds),
      ratio: round(run.seconds / baselineSeconds),
      entitiesPerSecond: Math.round(options.entities / run.seconds),
      postSeconds: round(run.postSeconds),
      statusP99Ms: round(run.statusP99Ms),
      peakRssMb: Math.round(Math.max(run.apiPeakRssMb, run.workerPeakRssMb)),
      apiPeakRssMb: Math.round(run.apiPeakRssMb),
      workerPeakRssMb: Math.round(run.workerPeakRssMb),
      apiCpuSeconds: round(run.apiCpuSeconds),
      workersCpuSeconds: round(run.workersCpuSeconds),
      ...(run.dbCpuSeconds === null || baselineDbCpuSeconds === null
        ? {}
        : { dbCpuSeconds: round(run.dbCpuSeconds), baselineDbCpuSeconds: round(baselineDbCpuSeconds), dbCpuRatio: round(run.dbCpuSeconds / baselineDbCpuSeconds) }),
      mode: 'distributed',
      workers,
      concurrency: options.concurrency,
      batchSize: options.batchSize,
      crmLatencyMs: options.crmLatencyMs,
      ratioLikeForLike: likeForLike,
      // The machine may be shared: a busy one slows the database server, whatever the platform does.
      loadAverage1m: round(os.loadavg()[0]!),
    };
    printTable(line, run.polls);
    if (!likeForLike) {
      console.log(`ratio: the baseline runs one batch at a time; only a run with 1 worker and concurrency 1 compares like with like (this one: ${workers} x ${options.concurrency})\n`);
    }
    console.log(JSON.stringify(line));
    return line;
  });
  if (results.length < 2) return;
  const first = results[0]!;
  console.log('');
  console.log(`| workers | platformSeconds | entitiesPerSecond | speedup over ${first.workers} | goal |`);
  console.log('| --- | --- | --- | --- | --- |');
  const scaling = results.map(({ workers, run }) => {
    const speedup = round(first.run.seconds / run.seconds);
    const goal = first.workers === 1 ? SCALING_GOALS[workers] : undefined;
    console.log(`| ${workers} | ${round(run.seconds)} | ${Math.round(options.entities / run.seconds)} | ${speedup} | ${goal === undefined ? '' : `>= ${goal}`} |`);
    return { workers, platformSeconds: round(run.seconds), speedup, ...(goal === undefined ? {} : { goal }) };
  });
  console.log('');
  const likeForLike = lines.find((l) => l.ratioLikeForLike);
  console.log(JSON.stringify({
    mode: 'distributed',
    entities: options.entities,
    batchSize: options.batchSize,
    concurrency: options.concurrency,
    crmLatencyMs: options.crmLatencyMs,
    baselineSeconds: round(baselineSeconds),
    ...(likeForLike ? { ratio: likeForLike.ratio, ratioOf: '1 worker, concurrency 1' } : {}),
    scaling,
  }));
}

async function cleanUp(services: Services, databases: string[], queues: string[], keep: boolean): Promise<void> {
  if (keep) {
    log(`kept databases ${databases.join(', ')} and queues ${queues.join(', ')}`);
    return;
  }
  await dropDatabases(services.mongodbUrl, databases).catch((error: unknown) => log(`could not drop the databases: ${String(error)}`));
  await deleteQueues(services.rabbitmqUrl, queues).catch((error: unknown) => log(`could not delete the queues: ${String(error)}`));
}

function logDirFor(root: string | null, workers: number): string | null {
  if (root === null) return null;
  const dir = path.join(root, `w${workers}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

