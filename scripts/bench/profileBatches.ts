/**
 * node --import tsx scripts/bench/profileBatches.ts <entities> <batchSize>   (MONGODB_URL, RABBITMQ_URL set)
 *
 * Where a distributed worker's time goes, per MongoDB command: seeds a fresh database, then runs
 * the real platform (buildPlatform, the HTTP create, startWorkers with one consumer) in this one
 * process, with every driver call timed by collection and method. Prints the time per batch of
 * each, slowest first. A measuring aid for docs/benchmarks.md: it wraps the driver's prototypes,
 * which nothing else may do.
 */
import { performance } from 'node:perf_hooks';
import { AggregationCursor, Collection, FindCursor } from 'mongodb';
import { buildApp } from '../../src/api/buildApp';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/observability/logger';
import { buildPlatform } from '../../src/platform';
import { startWorkers } from '../../src/processing/workers';
import { deleteQueues, dropDatabases } from '../realServers';
import { seedContacts, serverEnv, servicesFromEnv, uniqueRunName } from './distributedResources';
import { BENCH_API_KEYS, BENCH_AUTH } from './driveAction';

const [entities, batchSize] = process.argv.slice(2).map(Number) as [number, number];
if (!(entities > 0 && batchSize > 0)) throw new Error('usage: profileBatches.ts <entities> <batchSize>');

const timings = new Map<string, { calls: number; ms: number }>();
let recording = false;

type Method = (...args: unknown[]) => Promise<unknown>;
function timeMethod(proto: object, method: string, label: (self: never) => string): void {
  const original = (proto as Record<string, Method>)[method]!;
  (proto as Record<string, Method>)[method] = async function (this: never, ...args: unknown[]) {
    const start = performance.now();
    try {
      return await original.apply(this, args);
    } finally {
      if (recording) {
        const key = `${label(this)}.${method}`;
        const t = timings.get(key) ?? { calls: 0, ms: 0 };
        timings.set(key, { calls: t.calls + 1, ms: t.ms + performance.now() - start });
      }
    }
  };
}
for (const method of ['updateMany', 'updateOne', 'insertMany', 'insertOne', 'findOne', 'findOneAndUpdate', 'deleteOne', 'deleteMany']) {
  timeMethod(Collection.prototype, method, (c: Collection) => c.collectionName);
}
timeMethod(FindCursor.prototype, 'toArray', (c: FindCursor) => `${c.namespace.collection}.find`);
timeMethod(AggregationCursor.prototype, 'toArray', (c: AggregationCursor) => `${c.namespace.collection}.aggregate`);

const services = servicesFromEnv(process.env);
const name = `${uniqueRunName()}_profile`;
const env = serverEnv(services, name, name, {
  BATCH_SIZE: String(batchSize),
  WORKER_CONCURRENCY: '1',
  MONGODB_MAX_WRITE_OPS: process.env.MONGODB_MAX_WRITE_OPS ?? '40',
});
try {
  const ids = await seedContacts(env, 'bench', entities);
  const platform = await buildPlatform(loadConfig({ ...env, API_KEYS: BENCH_API_KEYS }), { logger: createLogger('warn') });
  const app = await buildApp(platform);
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  // The finishing batch says so: no status polling adds its reads to the profile.
  const workers = await startWorkers({ ...platform, onActionFinished: () => finished() }, platform.queue, 1);
  recording = true;
  const start = performance.now();
  const res = await app.inject({
    method: 'POST',
    url: '/api/bulk-actions/contact',
    headers: BENCH_AUTH,
    payload: { accountId: 'bench', entityIds: ids, fieldsToUpdate: { status: 'customer', title: 'Head of Revenue', company: 'Initech' } },
  });
  if (res.statusCode !== 202) throw new Error(`create answered ${res.statusCode}: ${res.body}`);
  await done;
  const totalMs = performance.now() - start;
  recording = false;
  await workers.stop();
  await app.close();
  await platform.close();

  const batches = Math.ceil(entities / batchSize);
  console.log(`${entities} entities in ${batches} batches of ${batchSize}: ${(totalMs / 1000).toFixed(1)} s, ${Math.round(totalMs / batches)} ms per batch`);
  console.log('| command | calls | total s | ms per batch |');
  console.log('| --- | --- | --- | --- |');
  for (const [key, t] of [...timings].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`| ${key} | ${t.calls} | ${(t.ms / 1000).toFixed(2)} | ${Math.round(t.ms / batches)} |`);
  }
} finally {
  await dropDatabases(services.mongodbUrl, [name]);
  await deleteQueues(services.rabbitmqUrl, [name]);
}
