/**
 * npm run bench -- --scenario load [--entities <n>]   (default here: 400,000)
 *
 * Issue 6's load fault at full size: 8 concurrent actions from 4 accounts on one embedded server
 * with 2 worker threads, every count exact, each process's peak RSS reported. It is the test
 * test/faults/load.test.ts, run with FAULT_LOAD_ENTITIES=<n>: `npm test` runs the same test at
 * 40,000 entities, which keeps the suite's time down; the checks live in one place. Prints the
 * test's `LOAD |` line (seed, creates, time to all terminal, rate, peak RSS) and fails as it fails.
 */
import { spawn } from 'node:child_process';

export async function runLoadBench(entities: number): Promise<void> {
  if (entities % 8 !== 0) throw new Error(`--entities must be a multiple of 8 (4 accounts, 2 actions each); got ${entities}`);
  const vitest = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/faults/load.test.ts', '-t', 'embedded'], {
    // Embedded, whatever the shell exports; no distributed suite to require.
    env: { ...process.env, FAULT_LOAD_ENTITIES: String(entities), MONGODB_URL: '', RABBITMQ_URL: '', REQUIRE_SERVICES: '' },
    stdio: 'inherit',
  });
  const code = await new Promise<number | null>((resolve) => vitest.once('exit', resolve));
  if (code !== 0) throw new Error(`the load test failed (exit ${code})`);
}
