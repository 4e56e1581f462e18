import {
  AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry,
  type MetricObjectWithValues, type MetricValue,
} from 'prom-client';
import type { QueueDepth } from '../queue/batchQueue';
import type { ActionStatus, OutcomeStatus } from '../types/entities';
import { withinMs } from './deadline';

/**
 * Prometheus metrics (GET /metrics). Names, labels and how to read them: docs/operations.md.
 *
 * Every thread and process keeps its own prom-client `Registry`: no module-level singleton, so a
 * test builds as many platforms as it likes. Embedded worker threads feed their own
 * `ProcessingMetrics`; on scrape the main thread asks each for `getMetricsAsJSON()` (see
 * threadMetrics.ts) and sums them with its own through `AggregatorRegistry.aggregate`.
 */

/** One metric family as `Registry.getMetricsAsJSON()` returns it: what crosses a thread boundary. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** What one delivery of a batch did, reported once per delivery by src/processing/workers.ts. */
export interface BatchObservation {
  /** A registered entity type, or 'unknown' (a message naming another type is dead-lettered). */
  entityType: string;
  /** The outcomes this delivery recorded, not those of earlier deliveries. */
  outcomes: ReadonlyArray<{ status: OutcomeStatus; code: string | null }>;
  /** Wall-clock time of the delivery, from the consumer being called to its verdict (s). */
  seconds: number;
  /** The verdict, or 'retry' when the batch was handed back to the queue. */
  result: 'ack' | 'dead-letter' | 'retry';
}

const ENTITY_SECONDS_BUCKETS = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1];
const BATCH_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The counters and histograms of batch processing, in one registry (a worker thread's or the process's). */
export class ProcessingMetrics {
  private readonly entities: Counter<'entity_type' | 'status' | 'code'>;
  private readonly entitySeconds: Histogram<'entity_type'>;
  private readonly batchSeconds: Histogram<'entity_type' | 'result'>;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.entities = new Counter({
      name: 'bulk_entities_processed_total',
      help: 'Entities given an outcome, by entity type, status (SUCCESS, FAILED, SKIPPED) and code ("" for SUCCESS).',
      labelNames: ['entity_type', 'status', 'code'],
      registers,
    });
    this.entitySeconds = new Histogram({
      name: 'bulk_entity_processing_seconds',
      help: 'Processing time per entity: a delivery\'s time divided by the outcomes it recorded, observed once per delivery (entities are read and written in bulk, so they share their batch\'s clock).',
      labelNames: ['entity_type'],
      buckets: ENTITY_SECONDS_BUCKETS,
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'bulk_batch_processing_seconds',
      help: 'Time of one batch delivery, from the consumer being called to its verdict, by entity type and result (ack, dead-letter, retry).',
      labelNames: ['entity_type', 'result'],
      buckets: BATCH_SECONDS_BUCKETS,
      registers,
    });
  }

  /** A handful of counter and histogram updates per delivery, whatever its size: one per distinct (status, code). */
  observeBatch(o: BatchObservation): void {
    const byOutcome = new Map<string, { status: OutcomeStatus; code: string; n: number }>();
    for (const { status, code } of o.outcomes) {
      const key = `${status}\u0000${code ?? ''}`;
      const group = byOutcome.get(key);
      if (group) group.n++;
      else byOutcome.set(key, { status, code: code ?? '', n: 1 });
    }
    for (const { status, code, n } of byOutcome.values()) this.entities.inc({ entity_type: o.entityType, status, code }, n);
    if (o.outcomes.length > 0) this.entitySeconds.observe({ entity_type: o.entityType }, o.seconds / o.outcomes.length);
    this.batchSeconds.observe({ entity_type: o.entityType, result: o.result }, o.seconds);
  }
}

/** Read at scrape time: what the whole platform holds, not what this process did. */
export interface ScrapeSources {
  queueDepth(): Promise<QueueDepth>;
  actionsByStatus(): Promise<Record<ActionStatus, number>>;
}

/** How long a scrape waits for each scrape-time read and each worker thread (ms). */
export const SCRAPE_TIMEOUT_MS = 1000;

/**
 * The metrics of one process: its own processing metrics, process and runtime metrics (memory,
 * event-loop delay, GC: prom-client's defaults), HTTP requests, and, where `sources` are given
 * (processes that serve the API), the queue depth and the actions by status, read at scrape time.
 * Other registries (worker threads) are added with `addSource` and summed in on every scrape.
 */
export class PlatformMetrics {
  readonly registry = new Registry();
  readonly processing = new ProcessingMetrics(this.registry);
  private readonly sources: Array<() => Promise<MetricsJson[]>> = [];
  private readonly scrapeFailures: Counter<'source'>;
  private readonly httpSeconds: Histogram<'method' | 'route' | 'status_code'>;
  private readonly httpErrors: Counter<'code'>;

  constructor(sources: ScrapeSources | null, options: { timeoutMs?: number } = {}) {
    const registers = [this.registry];
    const timeoutMs = options.timeoutMs ?? SCRAPE_TIMEOUT_MS;
    collectDefaultMetrics({ register: this.registry });
    this.scrapeFailures = new Counter({
      name: 'bulk_metrics_scrape_failures_total',
      help: 'Scrape-time reads that failed or timed out, by source (queue, store, worker_thread); the metric they feed is left out of that scrape.',
      labelNames: ['source'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'bulk_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.httpErrors = new Counter({
      name: 'bulk_api_errors_total',
      help: 'Error responses by their stable code (src/errors.ts).',
      labelNames: ['code'],
      registers,
    });
    if (sources) this.registerScrapeGauges(sources, timeoutMs);
  }

  /** Adds registries to sum in on every scrape, e.g. the worker threads'; a source that fails is left out (and counted). */
  addSource(source: () => Promise<MetricsJson[]>): void {
    this.sources.push(source);
  }

  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpSeconds.observe({ method, route, status_code: String(statusCode) }, seconds);
  }

  countApiError(code: string): void {
    this.httpErrors.inc({ code });
  }

  countScrapeFailure(source: string): void {
    this.scrapeFailures.inc({ source });
  }

  /** The Prometheus text exposition of this process and every added source, summed. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    const own = await this.registry.getMetricsAsJSON();
    const others = (await Promise.all(this.sources.map((source) => source()))).flat();
    const merged = others.length === 0 ? this.registry : AggregatorRegistry.aggregate([own, ...others]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  private registerScrapeGauges(sources: ScrapeSources, timeoutMs: number): void {
    const read = <T>(source: string, fn: () => Promise<T>) => this.read(source, fn, timeoutMs);
    new Gauge({
      name: 'bulk_queue_batches',
      help: 'Batches in the queue by state: ready, unacked (absent on RabbitMQ without its management API), delayed (waiting out a retry backoff), dead_lettered.',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const depth = await read('queue', () => sources.queueDepth());
        if (!depth) return;
        this.set({ state: 'ready' }, depth.ready);
        if (depth.unacked !== null) this.set({ state: 'unacked' }, depth.unacked);
        this.set({ state: 'delayed' }, depth.delayed);
        this.set({ state: 'dead_lettered' }, depth.deadLettered);
      },
    });
    new Gauge({
      name: 'bulk_actions',
      help: 'Bulk actions in the store by status (every process that serves the API reports the same figures: aggregate with max, not sum).',
      labelNames: ['status'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const counts = await read('store', () => sources.actionsByStatus());
        if (counts) for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
      },
    });
  }

  private async read<T>(source: string, fn: () => Promise<T>, timeoutMs: number): Promise<T | null> {
    try {
      return await withinMs(fn(), timeoutMs, `reading ${source} for /metrics`);
    } catch {
      this.countScrapeFailure(source);
      return null;
    }
  }
}
