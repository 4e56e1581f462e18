/** The server's own event-loop delay, as its GET /metrics reports it (prom-client's default metrics). */
export interface EventLoopDelay {
  /** 99th percentile of the samples (ms). */
  p99Ms: number;
  /** The longest sample (ms). */
  maxMs: number;
}

/**
 * Reads `nodejs_eventloop_lag_p99_seconds` and `nodejs_eventloop_lag_max_seconds` from the
 * server's /metrics. prom-client computes them from a `monitorEventLoopDelay` histogram (10 ms
 * resolution) that it resets at every scrape, so a scrape reports the samples since the previous
 * one: scrape once to start a window, once more to read it. A sample is the time between two
 * turns of the loop's 10 ms timer, so an idle loop reads about 10 ms, and a loop blocked for
 * 100 ms reads about 110. Returns null when the server exposes no such metric.
 */
export async function scrapeEventLoopDelay(base: string): Promise<EventLoopDelay | null> {
  const res = await fetch(`${base}/metrics`);
  if (!res.ok) return null;
  const text = await res.text();
  const p99 = gauge(text, 'nodejs_eventloop_lag_p99_seconds');
  const max = gauge(text, 'nodejs_eventloop_lag_max_seconds');
  return p99 === null || max === null ? null : { p99Ms: p99 * 1000, maxMs: max * 1000 };
}

/** The value of an unlabelled (or first labelled) sample of `name` in Prometheus text, or null. */
function gauge(text: string, name: string): number | null {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)`, 'm').exec(text);
  return match ? Number(match[1]) : null;
}
