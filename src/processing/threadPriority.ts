import os from 'node:os';
import { toError } from '../errors';
import type { Logger } from '../observability/logger';

/**
 * Gives the calling thread the nice value `nice` (0 to 19; 0 changes nothing). The threads that do
 * background work (embedded batch workers, the create thread) call it so that, when the process's
 * threads want more CPU than there are cores, the API's event loop gets a core first and requests
 * do not wait behind a batch or a million-ID create. On Linux a nice value belongs to one thread
 * (setpriority with who = 0 is the calling thread), so the main thread keeps its own; elsewhere it
 * may apply to the whole process, which changes nothing between its threads. A failure is logged and ignored.
 */
export function lowerThreadPriority(nice: number, logger: Logger): void {
  if (nice === 0) return;
  try {
    os.setPriority(0, Math.max(os.getPriority(0), nice));
  } catch (thrown) {
    logger.warn({ err: toError(thrown), nice }, 'could not lower this thread\'s priority; it competes with the API for the CPU');
  }
}
