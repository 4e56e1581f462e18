import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys: `bap_<id>_<secret>`, where `id` is 16 hex digits (public: the store's lookup key, shown
 * by `npm run keys -- list`) and `secret` is 32 random bytes in base64url (43 characters). Only
 * sha256 of the whole key is stored: with 256 random bits a slow password hash adds nothing, and
 * the comparison of hashes is constant-time.
 */
export interface NewApiKey {
  id: string;
  /** The whole key, shown once to whoever created it; never stored or logged. */
  key: string;
  keyHash: string;
}

/** The account an admin key may act for: any. */
export const ADMIN_ACCOUNT = '*';

const KEY_FORMAT = /^bap_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;

export function generateApiKey(): NewApiKey {
  const id = randomBytes(8).toString('hex');
  const key = `bap_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, key, keyHash: hashApiKey(key) };
}

/** The id of a key in the `bap_<id>_<secret>` format, else null (a key from API_KEYS may have any form). */
export function apiKeyIdOf(key: string): string | null {
  return KEY_FORMAT.exec(key)?.[1] ?? null;
}

/** sha256 of the key, hex (64 characters). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Whether `key` hashes to `keyHash`, comparing in constant time. */
export function matchesHash(key: string, keyHash: string): boolean {
  const actual = Buffer.from(hashApiKey(key), 'hex');
  const expected = Buffer.from(keyHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
