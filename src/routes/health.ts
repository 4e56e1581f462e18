import type { FastifyPluginAsync } from 'fastify';
import type { Platform } from '../platform';

export const healthRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  /** Liveness, and the queue's depth by state (the spec's "monitor queue sizes"). */
  app.get('/health', async () => ({ status: 'ok', queue: await platform.queue.depth() }));
};
