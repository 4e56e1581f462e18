import { Worker } from 'node:worker_threads';

/**
 * GET /health every `intervalMs`, from a thread of its own: the benchmark's main thread builds and
 * sends bodies of tens of megabytes, and its own pauses must not be counted as the server's.
 * A poll starts `intervalMs` after the previous one started, or as soon as it answered if it took
 * longer, so the longest answer time is how long the server left a request waiting.
 */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, intervalMs } = workerData;
const latencies = [];
let failures = 0;
let stopping = false;
parentPort.on('message', () => { stopping = true; });
(async () => {
  while (!stopping) {
    const start = performance.now();
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) latencies.push(performance.now() - start);
      else failures++;
    } catch {
      failures++;
    }
    const wait = intervalMs - (performance.now() - start);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  parentPort.postMessage({ latencies, failures });
})();
`;

export interface HealthPolls {
  /** Answer time of each successful poll (ms). */
  latencies: number[];
  /** Polls that failed or answered other than 2xx. */
  failures: number;
}

/** Starts polling `${base}/health`; `stop()` ends it and returns every answer time. */
export function pollHealth(base: string, intervalMs = 10): { stop(): Promise<HealthPolls> } {
  const worker = new Worker(POLLER, { eval: true, workerData: { url: `${base}/health`, intervalMs } });
  const result = new Promise<HealthPolls>((resolve, reject) => {
    worker.once('message', (polls: HealthPolls) => resolve(polls));
    worker.once('error', reject);
  });
  return {
    stop: async () => {
      worker.postMessage('stop');
      const polls = await result;
      await worker.terminate();
      return polls;
    },
  };
}
