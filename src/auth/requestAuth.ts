import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../errors';
import { isAdmin, type ApiKeyAuthenticator, type Caller } from './authenticator';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request: set by the /api auth hook before any route runs; null elsewhere (/health, /metrics). */
    caller: Caller | null;
  }
}

/**
 * Query parameters that carry credentials by convention. A request naming one is refused (400
 * API_KEY_IN_QUERY) before anything else: URLs end up in logs, proxies and browser history.
 */
export const KEY_QUERY_PARAMS: readonly string[] = ['api_key', 'apikey', 'api-key', 'key', 'token', 'access_token'];

/** The shape of every key this platform issues (`bap_<16 hex id>_<secret>`): found in any query value, it is refused and masked. */
export const KEY_SHAPE = /bap_[0-9a-f]{16}_/i;

/** Whether a query parameter carries a credential: a conventional name (trimmed, any case), or a name or value shaped like our keys. */
export function isKeyParam(name: string, value: unknown): boolean {
  if (KEY_QUERY_PARAMS.includes(name.trim().toLowerCase()) || KEY_SHAPE.test(name)) return true;
  const values = Array.isArray(value) ? value : [value];
  return values.some((v) => typeof v === 'string' && KEY_SHAPE.test(v));
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * Requires `Authorization: Bearer <key>` on every route registered in `app` (an encapsulated
 * plugin: the /api routes). Without a valid key: 401 UNAUTHORIZED with `WWW-Authenticate: Bearer`.
 * The caller is then `request.caller`.
 */
export function requireApiKey(app: FastifyInstance, authenticator: ApiKeyAuthenticator): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request) => {
    const query = request.query as Record<string, unknown>;
    const named = Object.keys(query).find((name) => isKeyParam(name, query[name]));
    if (named !== undefined) throw new ApiError('API_KEY_IN_QUERY', undefined, { field: named });
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    const caller = token === undefined ? null : await authenticator.authenticate(token);
    if (!caller) throw new ApiError('UNAUTHORIZED', undefined, {}, { 'WWW-Authenticate': 'Bearer' });
    request.caller = caller;
  });
}

/** The caller of an /api route (set by requireApiKey). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new Error('an /api route ran without requireApiKey');
  return request.caller;
}

/**
 * The account a request acts for, given the account its body or query names (`named`, may be
 * absent). An account key acts for its own account: naming another one is 403 ACCOUNT_FORBIDDEN.
 * An admin key acts for the named account, or for none (undefined: e.g. a list of every account).
 */
export function actingAccount(caller: Caller, named: string | undefined): string | undefined {
  if (isAdmin(caller)) return named;
  if (named !== undefined && named !== caller.accountId) throw new ApiError('ACCOUNT_FORBIDDEN', undefined, { field: 'accountId' });
  return caller.accountId;
}

/** Whether the caller may see data of `accountId`. Data it may not see answers exactly as missing data. */
export function maySee(caller: Caller, accountId: string): boolean {
  return isAdmin(caller) || caller.accountId === accountId;
}
