import type { FastifyPluginAsync } from 'fastify';
import { toError } from '../errors';
import { withinMs } from '../observability/deadline';
import type { Platform } from '../platform';

/** How long /ready waits for each part before it calls it unreachable (ms). */
export const READY_TIMEOUT_MS = 1000;

/** One part's answer to /ready: `error` says why it is not reachable. */
export type ReadinessCheck = { ok: true } | { ok: false; error: string };

/**
 * Liveness and readiness, for load balancers and orchestrators. Neither needs auth, and neither
 * shows tenant data: only whether each part answered, and the driver's reason when not.
 */
export const healthRoutes: FastifyPluginAsync<{ platform: Platform; readyTimeoutMs?: number }> = async (app, { platform, readyTimeoutMs = READY_TIMEOUT_MS }) => {
  /**
   * Liveness: 200 whenever the process can answer, i.e. its event loop turns. It asks nothing of
   * the store or the queue, so an outage of either never gets a live process restarted (that is
   * what /ready is for). Queue depth is on /metrics (`bulk_queue_batches`).
   */
  app.get('/health', async () => ({ status: 'ok' }));

  /**
   * Readiness: 200 when the job store and the queue each answer a trivial read within
   * `readyTimeoutMs`, else 503 naming the part that did not. Both are asked at once.
   */
  app.get('/ready', async (request, reply) => {
    const [store, queue] = await Promise.all([
      check(() => platform.jobStore.ping(), readyTimeoutMs, 'the job store'),
      check(() => platform.queue.ping(), readyTimeoutMs, 'the queue'),
    ]);
    const ready = store.ok && queue.ok;
    if (!ready) request.log.warn({ store, queue }, 'not ready: a part of the platform is unreachable');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks: { store, queue } });
  });
};

async function check(probe: () => Promise<void>, timeoutMs: number, what: string): Promise<ReadinessCheck> {
  try {
    await withinMs(Promise.resolve().then(probe), timeoutMs, `${what}'s ping`);
    return { ok: true };
  } catch (thrown) {
    return { ok: false, error: toError(thrown).message };
  }
}
