import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** The admin key every benchmark server accepts (API_KEYS=BENCH_API_KEYS): the benchmarks act for several accounts. */
export const BENCH_API_KEY = 'bench-admin-key-0123456789abcdef';
export const BENCH_API_KEYS = `${BENCH_API_KEY}:*`;
/** Headers of every benchmark request to /api. */
export const BENCH_AUTH = { authorization: `Bearer ${BENCH_API_KEY}` } as const;

/** What the benchmarks read from GET /api/bulk-actions/:id/stats. */
export interface StatsAnswer {
  status: string;
  processed: number;
  succeeded: number;
}

export interface ActionRun {
  /** From sending the create to the poll that saw COMPLETED (s). */
  seconds: number;
  /** The create's answer time (ms). */
  postMs: number;
  /** Each stats poll's answer time (ms). */
  latencies: number[];
  stats: StatsAnswer;
}

/**
 * Both benchmark modes' measured part: POSTs one update to `${base}/api/bulk-actions/contact`, then
 * polls its stats ten times a second until it is over. `onPoll` runs after each poll (a benchmark's
 * own stall or crash checks: it throws to stop). Throws on a refused create, a failed poll, or an
 * action that ends other than COMPLETED.
 */
export async function submitAndWait(base: string, body: string, onPoll: (stats: StatsAnswer, at: number) => void = () => {}): Promise<ActionRun> {
  const start = performance.now();
  const res = await fetch(`${base}/api/bulk-actions/contact`, { method: 'POST', headers: { ...BENCH_AUTH, 'content-type': 'application/json' }, body });
  const postMs = performance.now() - start;
  if (res.status !== 202) throw new Error(`create answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };

  const latencies: number[] = [];
  let stats: StatsAnswer = { status: 'PENDING', processed: 0, succeeded: 0 };
  while (!['COMPLETED', 'FAILED', 'CANCELLED'].includes(stats.status)) {
    const tick = performance.now();
    const answer = await fetch(`${base}/api/bulk-actions/${id}/stats`, { headers: BENCH_AUTH });
    latencies.push(performance.now() - tick);
    if (!answer.ok) throw new Error(`stats answered ${answer.status}: ${await answer.text()}`);
    stats = (await answer.json()) as StatsAnswer;
    onPoll(stats, tick);
    await sleep(Math.max(0, 100 - (performance.now() - tick)));
  }
  const seconds = (performance.now() - start) / 1000;
  if (stats.status !== 'COMPLETED') throw new Error(`action ended ${stats.status}: ${JSON.stringify(stats)}`);
  return { seconds, postMs, latencies, stats };
}

/** A result as a two-column Markdown table, with the number of stats polls as its last row. */
export function printTable(r: Record<string, unknown>, polls: number): void {
  console.log('');
  console.log('| measure | value |');
  console.log('| --- | --- |');
  for (const [k, v] of Object.entries(r)) console.log(`| ${k} | ${String(v)} |`);
  console.log(`| statusPolls | ${polls} |`);
  console.log('');
}

/** Three decimals, for the JSON line. */
export const round = (n: number): number => Math.round(n * 1000) / 1000;

/** Progress goes to stderr, so stdout holds only the tables and the JSON line. */
export const log = (msg: string): void => console.error(`[bench] ${msg}`);
