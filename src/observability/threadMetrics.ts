import { randomUUID } from 'node:crypto';
import type { MessagePort, Worker } from 'node:worker_threads';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { withinMs } from './deadline';
import type { MetricsJson, PlatformMetrics } from './metrics';

/**
 * Embedded mode's worker threads each keep a prom-client registry; the main thread serves
 * /metrics. On every scrape it asks each live thread for its registry as JSON, by message:
 *   main -> thread  { type: 'metrics-request', requestId }
 *   thread -> main  { type: 'metrics-response', requestId, metrics }
 * A thread busy in a long synchronous stretch answers when it next yields; one that does not
 * answer within the scrape timeout is left out of that scrape (counted in
 * bulk_metrics_scrape_failures_total{source="worker_thread"}).
 *
 * Counters of a thread that died and was restarted would start again at 0, and the sum would go
 * down, which Prometheus reads as a reset of the whole series. So the last snapshot of every
 * thread that exited is kept and summed in ("retired"): the series only loses what the dead
 * thread counted after the last scrape.
 */

interface MetricsRequest {
  type: 'metrics-request';
  requestId: string;
}

interface MetricsResponse {
  type: 'metrics-response';
  requestId: string;
  metrics: MetricsJson;
}

/** Worker-thread side: answers the main thread's requests with `registry`'s metrics. */
export function answerMetricsRequests(port: MessagePort, registry: Registry): void {
  port.on('message', (message: Partial<MetricsRequest>) => {
    if (message?.type !== 'metrics-request') return;
    void registry.getMetricsAsJSON().then((metrics) => {
      const response: MetricsResponse = { type: 'metrics-response', requestId: message.requestId!, metrics: metrics as MetricsJson };
      port.postMessage(response);
    });
  });
}

/** Asks one thread for its metrics; rejects after `timeoutMs`. */
function requestMetrics(worker: Worker, timeoutMs: number): Promise<MetricsJson> {
  const requestId = randomUUID();
  let listener!: (message: Partial<MetricsResponse>) => void;
  const answered = new Promise<MetricsJson>((resolve) => {
    listener = (message) => {
      if (message?.type === 'metrics-response' && message.requestId === requestId) resolve(message.metrics!);
    };
    worker.on('message', listener);
  });
  const request: MetricsRequest = { type: 'metrics-request', requestId };
  worker.postMessage(request);
  return withinMs(answered, timeoutMs, 'a worker thread\'s metrics').finally(() => worker.off('message', listener));
}

/**
 * Main-thread side: makes `metrics` sum in the registries of the threads `live()` returns on every
 * scrape. Call `retire(worker)` when a thread exits (before it is replaced).
 */
export function collectThreadMetrics(metrics: PlatformMetrics, live: () => Iterable<Worker>, timeoutMs: number): { retire(worker: Worker): void } {
  const last = new Map<Worker, MetricsJson>();
  // Snapshots of exited threads, folded into one sum on the next scrape so a crash loop cannot grow them.
  let retired: MetricsJson | null = null;
  let justRetired: MetricsJson[] = [];
  metrics.addSource(async () => {
    if (justRetired.length > 0) {
      const parts = retired ? [retired, ...justRetired] : justRetired;
      justRetired = [];
      retired = (await AggregatorRegistry.aggregate(parts).getMetricsAsJSON()) as MetricsJson;
    }
    const answers = await Promise.all(
      [...live()].map(async (worker) => {
        try {
          const json = await requestMetrics(worker, timeoutMs);
          last.set(worker, json);
          return json;
        } catch {
          metrics.countScrapeFailure('worker_thread');
          return last.get(worker) ?? null; // a stale snapshot keeps the counters from going down
        }
      }),
    );
    return [...(retired ? [retired] : []), ...answers.filter((a): a is MetricsJson => a !== null)];
  });
  return {
    retire(worker) {
      const snapshot = last.get(worker);
      last.delete(worker);
      if (snapshot) justRetired.push(snapshot);
    },
  };
}
