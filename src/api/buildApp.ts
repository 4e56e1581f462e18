import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { CreateRunner } from '../actions/createRequest';
import { ApiKeyAuthenticator } from '../auth/authenticator';
import { isKeyParam, KEY_SHAPE, requireApiKey } from '../auth/requestAuth';
import type { Platform } from '../platform';
import { bulkActionRoutes } from '../routes/bulkActions';
import { entityRoutes } from '../routes/entities';
import { withinMs } from '../observability/deadline';
import { healthRoutes, READY_TIMEOUT_MS } from '../routes/health';
import { metricsRoutes } from '../routes/metrics';
import { frameworkError, registerErrorHandling } from './errorHandler';
import { decodeQueryComponent, rawQueryPairs, rejectMalformedQuery } from './query';

export interface AppOptions {
  /** The platform's pino logger (src/server.ts), so request logs and the platform's logs share one format. Default: no logs. */
  logger?: FastifyBaseLogger;
  /** Where creates run: src/server.ts passes the create thread; default: on this thread (tests). */
  creates?: CreateRunner;
}

/**
 * The HTTP app. Tests drive it with app.inject(); src/server.ts makes it listen, passing the
 * platform's pino logger so that request logs and the platform's logs share one format.
 */
export async function buildApp(platform: Platform, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    ...loggingOptions(options),
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
  registerErrorHandling(app, { storeReachable: () => answersPing(platform) });
  await registerOperations(app, platform);
  // Every /api route needs an API key and sees only its account's data (src/auth/); the operations routes above need none.
  const authenticator = new ApiKeyAuthenticator(platform.apiKeyStore, platform.config.apiKeys, platform.now);
  await app.register(async (api) => {
    api.addHook('onRequest', async (request) => rejectMalformedQuery(request.url));
    requireApiKey(api, authenticator);
    await api.register(bulkActionRoutes, { platform, creates: options.creates, prefix: '/api/bulk-actions' });
    await api.register(entityRoutes, { platform, prefix: '/api/entities' });
  });
  return app;
}

/**
 * Only /health, /ready and /metrics: what a process without the API (`--role worker`) serves on
 * METRICS_PORT, so that it can be probed and scraped like the others.
 */
export async function buildOperationsApp(platform: Platform, options: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(loggingOptions(options));
  registerErrorHandling(app);
  await registerOperations(app, platform);
  return app;
}

/** Probes and the scrape, with request metrics on every route. Their own request logs only at warn: they are polled every few seconds. */
async function registerOperations(app: FastifyInstance, platform: Platform): Promise<void> {
  const { metrics } = platform;
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
  // Every error response is sent by errorHandler.ts as {"error":{"code":"..."}}: count it by code.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      const code = ERROR_CODE.exec(payload)?.[1];
      if (code) metrics.countApiError(code);
    }
    return payload;
  });
  await app.register(healthRoutes, { platform, logLevel: 'warn' });
  await app.register(metricsRoutes, { metrics, logLevel: 'warn' });
}

/** Whether the job store answers its ping within /ready's timeout. */
async function answersPing(platform: Platform): Promise<boolean> {
  try {
    await withinMs(Promise.resolve().then(() => platform.jobStore.ping()), READY_TIMEOUT_MS, "the job store's ping");
    return true;
  } catch {
    return false;
  }
}

const ERROR_CODE = /^\{"error":\{"code":"([A-Z0-9_]+)"/;

function loggingOptions(options: AppOptions): FastifyServerOptions {
  if (!options.logger) return { logger: false };
  return {
    loggerInstance: options.logger,
    // Every line of a request about one action (its "incoming request" and "request completed"
    // included) carries the action id, like the workers' lines about it.
    childLoggerFactory: (logger, bindings, childOptions, rawRequest) => {
      const actionId = actionIdOf(rawRequest as IncomingMessage);
      // Fastify's request serializer logs no header (so never Authorization), but it logs the URL:
      // a key sent in the query (refused with 400) must not reach the log through it.
      const serializers = { ...childOptions.serializers, req: safeRequestLog };
      return logger.child(actionId === null ? bindings : { ...bindings, actionId }, { ...childOptions, serializers });
    },
  };
}

/** What a request's log lines say about it: Fastify's fields, with the value of any credential-like query parameter replaced by ***. */
function safeRequestLog(request: { method: string; url: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
  return { method: request.method, url: redactKeyParams(request.url), host: request.host, remoteAddress: request.ip, remotePort: request.socket?.remotePort };
}

/**
 * The URL with the value of every credential-like query parameter replaced by *** (`isKeyParam`:
 * a conventional name, percent-encoded or not, or a value shaped like our keys).
 */
export function redactKeyParams(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const pairs = rawQueryPairs(url).map(({ name, value }) => {
    if (value === null) return KEY_SHAPE.test(name) ? '***' : name;
    const credential = isKeyParam(decodeQueryComponent(name) ?? name, decodeQueryComponent(value) ?? value) || KEY_SHAPE.test(value);
    return credential ? `${name}=***` : `${name}=${value}`;
  });
  return `${url.slice(0, start)}?${pairs.join('&')}`;
}

const ACTION_PATH = /^\/api\/bulk-actions\/([^/?#]+)(\/[^?#]*)?/;

/**
 * The action id of a request to /api/bulk-actions/:id[/...], else null. The routes decide what the
 * segment is: POST /api/bulk-actions/:entityType creates (the segment is a type); every other
 * method, and any path with a further segment (/stats, /logs), is about the action `:id`.
 */
export function actionIdOf(request: Pick<IncomingMessage, 'method' | 'url'>): string | null {
  const match = ACTION_PATH.exec(request.url ?? '');
  if (!match) return null;
  if (request.method === 'POST' && !match[2]) return null;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return null; // malformed percent-encoding: the route answers 400 and there is no action
  }
}
