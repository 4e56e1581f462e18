import type { FastifyPluginAsync } from 'fastify';
import { toError } from '../errors';
import type { Platform } from '../platform';

export const healthRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  /**
   * Liveness, and the queue's depth by state (the spec's "monitor queue sizes"). The process is
   * alive even when the queue cannot be asked: then `queue` is null and `queueError` says why.
   */
  app.get('/health', async () => {
    try {
      return { status: 'ok', queue: await platform.queue.depth() };
    } catch (thrown) {
      return { status: 'ok', queue: null, queueError: toError(thrown).message };
    }
  });
};
