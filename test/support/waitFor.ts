import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `condition` until it holds, failing after `timeoutMs`. Tests wait on observable state
 * (a count, a queue depth) with a deadline instead of sleeping for a guessed time.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  description = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await sleep(5);
  }
}

/**
 * Gives other work (I/O callbacks, timers, a broker's round trips) a chance to run. Only for
 * checking that something does NOT happen; never the way to wait for something that should.
 */
export async function letOtherWorkRun(ms = 50): Promise<void> {
  await sleep(ms);
}
