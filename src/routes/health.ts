import type { FastifyPluginAsync } from 'fastify';
import type { Platform } from '../platform';

export const healthRoutes: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  app.get('/health', async () => ({ status: 'ok', queueDepth: await platform.queue.depth() }));
};
