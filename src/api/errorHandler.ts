import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { API_ERRORS, ApiError, toError, type ApiErrorCode } from '../errors';

/** Fastify's own client errors, mapped into the catalogue. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_BODY',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_BAD_URL: 'INVALID_URL',
  FST_ERR_ASYNC_CONSTRAINT: 'INVALID_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

/** For Fastify's `frameworkErrors` option: routing-level errors, in the same envelope. */
export function frameworkError(error: FastifyError, _request: unknown, reply: FastifyReply): void {
  const code = FASTIFY_CODES[error.code] ?? 'INVALID_URL';
  void sendError(reply, new ApiError(code));
}

export function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply
    .code(error.status)
    .headers(error.headers)
    .send({ error: { code: error.code, message: error.message, details: error.details } });
}

/** Seconds a client is told to wait when the job store cannot be reached. */
const STORE_RETRY_AFTER_SECONDS = 5;

export interface ErrorHandlingOptions {
  /**
   * Whether the job store answers (its ping, bounded in time). Asked only about an unexpected
   * error: when the store does not answer either, the request failed for want of it, and the client
   * gets 503 STORE_UNAVAILABLE with Retry-After instead of 500 INTERNAL (a database outage or failover).
   */
  storeReachable?: () => Promise<boolean>;
}

/** The one place errors become responses: `{ error: { code, message, details } }`. */
export function registerErrorHandling(app: FastifyInstance, options: ErrorHandlingOptions = {}): void {
  app.setErrorHandler(async (thrown, request, reply) => {
    const error = toError(thrown) as FastifyError;
    if (error instanceof ApiError) return sendError(reply, error);
    const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
    if (mapped) return sendError(reply, new ApiError(mapped));
    if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/i.test(error.message))) {
      return sendError(reply, new ApiError('INVALID_JSON', `The request body is not valid JSON: ${error.message.toWellFormed()}`));
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(reply, new ApiError('INVALID_BODY', error.message));
    }
    if (options.storeReachable && !(await options.storeReachable())) {
      request.log.warn({ err: error }, 'request failed while the job store is unreachable');
      const seconds = STORE_RETRY_AFTER_SECONDS;
      return sendError(reply, new ApiError('STORE_UNAVAILABLE', undefined, { retryAfterSeconds: seconds }, { 'Retry-After': String(seconds) }));
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendError(reply, new ApiError('INTERNAL', API_ERRORS.INTERNAL.message));
  });
  app.setNotFoundHandler((request, reply) =>
    // The path only: a query string may hold a credential, and an answer must never echo it.
    sendError(reply, new ApiError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
