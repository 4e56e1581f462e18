import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Platform } from '../platform';
import { bulkActionRoutes } from '../routes/bulkActions';
import { entityRoutes } from '../routes/entities';
import { healthRoutes } from '../routes/health';
import { frameworkError, registerErrorHandling } from './errorHandler';

/**
 * The HTTP app. Tests drive it with app.inject(); src/server.ts makes it listen, passing the
 * platform's pino logger so that request logs and the platform's logs share one format.
 */
export async function buildApp(platform: Platform, options: { logger?: FastifyBaseLogger } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: platform.config.bodyLimitBytes,
    // Field names like __proto__ are rejected by request validation with a precise error, and
    // skipping the poisoning scan keeps parsing a million IDs fast.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
    // Entity IDs may be 256 characters, and percent-encoding can triple them.
    routerOptions: { maxParamLength: 1024 },
    frameworkErrors: frameworkError,
  });
  // Only JSON bodies: text/plain gets 415 instead of being parsed into a string.
  app.removeContentTypeParser('text/plain');
  registerErrorHandling(app);
  await app.register(healthRoutes, { platform });
  await app.register(bulkActionRoutes, { platform, prefix: '/api/bulk-actions' });
  await app.register(entityRoutes, { platform, prefix: '/api/entities' });
  return app;
}
