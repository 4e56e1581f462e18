import type { ApiKeyStore, StoredApiKey } from './apiKeyStore';
import { ADMIN_ACCOUNT, apiKeyIdOf, hashApiKey, matchesHash } from './apiKeys';

/** Who made a request: the key's id and the account it acts for (`*`: an admin key, any account). */
export interface Caller {
  /** A stored key's id, or `API_KEYS#<n>` (1-based) for a configured one. Safe to log. */
  keyId: string;
  accountId: string;
}

/** A key from API_KEYS (config.ts): the key itself and its account (`*` = admin). */
export interface ConfiguredApiKey {
  key: string;
  accountId: string;
}

export function isAdmin(caller: Caller): boolean {
  return caller.accountId === ADMIN_ACCOUNT;
}

/**
 * How long a stored key's lookup (found, missing or revoked) is reused: a revoked key stops
 * working within this bound in every process, without a store round trip per request.
 */
export const KEY_CACHE_MS = 5_000;
/** Past this many cached lookups the cache starts over, so random bearer tokens cannot grow it without bound. */
const MAX_CACHED = 10_000;

/**
 * Resolves a bearer token to its Caller: first the keys of API_KEYS (each compared by hash in
 * constant time), then, for a token in the `bap_<id>_<secret>` format, the stored key with that id
 * unless it is revoked. Stored lookups are cached for KEY_CACHE_MS.
 */
export class ApiKeyAuthenticator {
  private readonly configured: { keyHash: string; accountId: string; keyId: string }[];
  private readonly cache = new Map<string, { key: StoredApiKey | null; until: number }>();

  constructor(
    private readonly store: ApiKeyStore | null,
    configured: readonly ConfiguredApiKey[],
    private readonly now: () => number = Date.now,
  ) {
    this.configured = configured.map((c, i) => ({ keyHash: hashApiKey(c.key), accountId: c.accountId, keyId: `API_KEYS#${i + 1}` }));
  }

  /** The caller a token stands for, or null when it is no valid key. Rejects only when the store fails. */
  async authenticate(token: string): Promise<Caller | null> {
    // Every configured key is compared, so the time taken does not say which one matched.
    let match: Caller | null = null;
    for (const c of this.configured) {
      if (matchesHash(token, c.keyHash) && match === null) match = { keyId: c.keyId, accountId: c.accountId };
    }
    if (match) return match;
    const id = apiKeyIdOf(token);
    if (id === null || this.store === null) return null;
    const stored = await this.lookup(id);
    if (!stored || stored.revokedAt !== null || !matchesHash(token, stored.keyHash)) return null;
    return { keyId: stored.id, accountId: stored.accountId };
  }

  private async lookup(id: string): Promise<StoredApiKey | null> {
    const now = this.now();
    const cached = this.cache.get(id);
    if (cached && cached.until > now) return cached.key;
    const key = await this.store!.findKey(id);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(id, { key, until: now + KEY_CACHE_MS });
    return key;
  }
}
