import type { FastifyPluginAsync } from 'fastify';
import type { PlatformMetrics } from '../observability/metrics';

/**
 * GET /metrics: Prometheus text exposition of this process, its worker threads summed in (see
 * src/observability/metrics.ts; what each metric means: docs/operations.md). No auth, no tenant
 * data: labels name entity types, statuses and codes, never an account or an entity.
 */
export const metricsRoutes: FastifyPluginAsync<{ metrics: PlatformMetrics }> = async (app, { metrics }) => {
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.type(contentType).send(body);
  });
};
