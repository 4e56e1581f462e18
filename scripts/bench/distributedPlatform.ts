import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
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
    const start = performance.now();
    const res = await fetch(`${base}/api/bulk-actions/contact`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const postMs = performance.now() - start;
    if (res.status !== 202) throw new Error(`create answered ${res.status}: ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };

    const latencies: number[] = [];
    let stats = { status: 'PENDING', processed: 0, succeeded: 0 };
    let lastProgressAt = performance.now();
    while (!['COMPLETED', 'FAILED', 'CANCELLED'].includes(stats.status)) {
      group.assertRunning();
      const tick = performance.now();
      const answer = await fetch(`${base}/api/bulk-actions/${id}/stats`);
      latencies.push(performance.now() - tick);
      if (!answer.ok) throw new Error(`stats answered ${answer.status}: ${await answer.text()}`);
      const next = (await answer.json()) as typeof stats;
      if (next.processed !== stats.processed) lastProgressAt = tick;
      stats = next;
      if (tick - lastProgressAt > STALL_MS) {
        const outputs = [api, ...workers].map((s) => `--- ${s.name}:\n${s.output().slice(-4000)}`).join('\n');
        throw new Error(`no progress for ${STALL_MS / 1000} s at ${stats.processed} of ${ids.length} processed (status ${stats.status})\n${outputs}`);
      }
      await sleep(Math.max(0, 100 - (performance.now() - tick)));
    }
    const seconds = (performance.now() - start) / 1000;
    if (stats.status !== 'COMPLETED') throw new Error(`action ended ${stats.status}: ${JSON.stringify(stats)}`);
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
