import { stringProblem } from '../actions/exactValues';
import { ApiError } from '../errors';

/** A repeated parameter arrives as an array: every reader below refuses it with INVALID_QUERY. */
export type Query = Record<string, string | string[] | undefined>;

export interface PageRequest {
  page: number;
  limit: number;
  offset: number;
}

/** `page` from 1, `limit` from 1 to maxLimit. */
export function pageParams(query: Query, defaultLimit = 50, maxLimit = 1000): PageRequest {
  const page = intParam(query, 'page', 1, 1, 1_000_000_000);
  const limit = intParam(query, 'limit', defaultLimit, 1, maxLimit);
  return { page, limit, offset: (page - 1) * limit };
}

/**
 * Refuses a query string with a malformed percent escape or escapes that are not UTF-8 (`%FF`,
 * `%E0%A4`, an encoded lone surrogate `%ED%A0%80`): Fastify's parser keeps such text as it was,
 * so `?accountId=%FF` would be read as the four characters "%FF", not what the client meant.
 * Throws 400 INVALID_QUERY naming the parameter. `url` is the request's raw path and query (RFC 3986).
 */
export function rejectMalformedQuery(url: string): void {
  for (const { name, value } of rawQueryPairs(url)) {
    const decodedName = decodeQueryComponent(name);
    if (decodedName === null || (value !== null && decodeQueryComponent(value) === null)) {
      const field = decodedName ?? name;
      throw new ApiError('INVALID_QUERY', `${field} is not valid percent-encoded UTF-8`, { field });
    }
  }
}

/** The `name=value` pairs of a URL's query string, still percent-encoded (a pair without `=` has value null). */
export function rawQueryPairs(url: string): { name: string; value: string | null }[] {
  const start = url.indexOf('?');
  if (start < 0) return [];
  return url.slice(start + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return eq < 0 ? { name: pair, value: null } : { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
  });
}

/** One query-string component decoded (`+` is a space), or null when its escapes are malformed or not UTF-8. */
export function decodeQueryComponent(component: string): string | null {
  try {
    return decodeURIComponent(component.replace(/\+/g, ' '));
  } catch {
    return null; // URIError: the caller reports the parameter
  }
}

/** Longer than any ID, account or type name the platform accepts (entity IDs: MAX_ENTITY_ID_LENGTH, at most 1024). */
export const MAX_QUERY_VALUE_LENGTH = 1024;

/**
 * An optional single-valued string parameter; empty counts as absent. Refused (INVALID_QUERY with
 * the parameter as details.field): a repeated parameter, one over MAX_QUERY_VALUE_LENGTH, and one
 * no store could hold as sent (U+0000; a lone surrogate cannot arrive percent-encoded, since
 * Fastify leaves malformed UTF-8 escapes as they were).
 */
export function stringParam(query: Query, name: string): string | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw new ApiError('INVALID_QUERY', `${name} must be given once`, { field: name });
  if (raw.length > MAX_QUERY_VALUE_LENGTH) {
    throw new ApiError('INVALID_QUERY', `${name} must be at most ${MAX_QUERY_VALUE_LENGTH} characters`, { field: name, max: MAX_QUERY_VALUE_LENGTH });
  }
  const problem = stringProblem(raw);
  if (problem !== null) throw new ApiError('INVALID_QUERY', `${name} ${problem}`, { field: name, reason: problem });
  return raw;
}

/**
 * A URL segment that names a stored record (an action's or an entity's id), checked before any
 * store sees it: at most `maxLength` characters, and text every store can take (FerretDB on
 * PostgreSQL fails the whole query on U+0000, which would be a 500). Throws 400 INVALID_FIELD with
 * `name` as details.field.
 */
export function idParam(value: string, name: string, maxLength: number): string {
  const problem = value.length > maxLength ? `must be at most ${maxLength} characters` : stringProblem(value);
  if (problem !== null) throw new ApiError('INVALID_FIELD', `${name} ${problem}`, { field: name, reason: problem });
  return value;
}

export function intParam(query: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = stringParam(query, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ApiError('INVALID_QUERY', `${name} must be an integer from ${min} to ${max}`, { field: name, received: raw });
  }
  return value;
}

export function enumParam<T extends string>(query: Query, name: string, allowed: readonly T[]): T | undefined {
  const raw = stringParam(query, name);
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ApiError('INVALID_QUERY', `${name} must be one of ${allowed.join(', ')}`, { field: name, received: raw, allowed });
  }
  return raw as T;
}
