import { performance } from 'node:perf_hooks';
import { submitAndWait } from './driveAction';
import { cpuSecondsOfMatching, percentile } from './processStats';
import { ServerGroup } from './serverGroup';

/** A run that processes nothing for this long is reported as stalled, with the servers' output. */
const STALL_MS = 180_000;

export interface DistributedRunOptions {
  /** MONGODB_URL, RABBITMQ_URL, MONGODB_DATABASE, RABBITMQ_QUEUE, CRM_LATENCY_MS, ...: every server gets these. */
  env: Record<string, string>;
  workers: number;
  port: number;
  accountId: string;
  ids: string[];
  fields: Record<string, unknown>;
  /** The database server's processes (by command line), whose CPU is reported; null: not reported. */
  dbProcess: RegExp | null;
  /** A directory to write each server's output to, or null. */
  logDir: string | null;
}

export interface DistributedRun {
  seconds: number;
  postSeconds: number;
  statusP99Ms: number;
  apiPeakRssMb: number;
  /** The largest peak RSS among the worker processes. */
  workerPeakRssMb: number;
  /** CPU from create to COMPLETED. */
  apiCpuSeconds: number;
  workersCpuSeconds: number;
  dbCpuSeconds: number | null;
  polls: number;
}

/**
 * One API process (`--role api`) and `workers` worker processes (`--role worker`) on the same
 * database and queue; one create of all `ids` through HTTP, then /stats ten times a second until
 * the action is over. Every server is stopped before this returns or throws.
 */
export async function runDistributedPlatform(options: DistributedRunOptions): Promise<DistributedRun> {
  const { env, port, ids } = options;
  const group = new ServerGroup(options.logDir);
  try {
    const api = group.start('api', { ...env, PORT: String(port), LOG_LEVEL: 'warn' }, ['--role', 'api']);
    // info: the "started" line says its consumers are subscribed (the batches of a run are few, so the log is small).
    const workers = Array.from({ length: options.workers }, (_, i) => group.start(`worker ${i + 1}`, { ...env, LOG_LEVEL: 'info' }, ['--role', 'worker']));
    const base = `http://127.0.0.1:${port}`;
    await group.waitForHealth(base);
    for (const worker of workers) await group.waitForOutput(worker, '"msg":"started"');

    const body = JSON.stringify({ accountId: options.accountId, entityIds: ids, fieldsToUpdate: options.fields });
    const cpu = () => ({
      api: api.cpuSeconds(),
      workers: workers.reduce((sum, w) => sum + w.cpuSeconds(), 0),
      db: options.dbProcess === null ? null : cpuSecondsOfMatching(options.dbProcess),
    });
    const cpuAtCreate = cpu();
    let processed = 0;
    let lastProgressAt = performance.now();
    const { seconds, postMs, latencies, stats } = await submitAndWait(base, body, (polled, at) => {
      group.assertRunning();
      if (polled.processed !== processed) lastProgressAt = at;
      processed = polled.processed;
      if (at - lastProgressAt > STALL_MS) {
        const outputs = [api, ...workers].map((s) => `--- ${s.name}:\n${s.output().slice(-4000)}`).join('\n');
        throw new Error(`no progress for ${STALL_MS / 1000} s at ${polled.processed} of ${ids.length} processed (status ${polled.status})\n${outputs}`);
      }
    });
    const cpuAtEnd = cpu();
    // Every seeded contact exists and has its own email: anything but all SUCCESS is a platform bug, not a speed.
    if (stats.succeeded !== ids.length) throw new Error(`action COMPLETED with ${stats.succeeded} of ${ids.length} succeeded: ${JSON.stringify(stats)}`);
    return {
      seconds,
      postSeconds: postMs / 1000,
      statusP99Ms: percentile(latencies, 0.99),
      apiPeakRssMb: api.peakRssMb(),
      workerPeakRssMb: Math.max(...workers.map((w) => w.peakRssMb())),
      apiCpuSeconds: cpuAtEnd.api - cpuAtCreate.api,
      workersCpuSeconds: cpuAtEnd.workers - cpuAtCreate.workers,
      dbCpuSeconds: cpuAtEnd.db === null || cpuAtCreate.db === null ? null : cpuAtEnd.db - cpuAtCreate.db,
      polls: latencies.length,
    };
  } finally {
    await group.stopAll();
  }
}
