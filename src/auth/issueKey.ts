import type { ApiKeyStore } from './apiKeyStore';
import { ADMIN_ACCOUNT, apiKeyIdOf, generateApiKey, matchesHash } from './apiKeys';

/** Accounts a key may be issued for: `*` (admin) or 1 to 128 printable characters without spaces. */
const ACCOUNT = /^[\x21-\x7E]{1,128}$/;

/**
 * Creates and stores a key for `accountId` (`*`: an admin key) and returns the whole key: the only
 * time it exists outside its holder's hands. Throws for an account name it cannot issue to.
 */
export async function issueApiKey(store: ApiKeyStore, accountId: string, now: number): Promise<{ id: string; key: string }> {
  if (accountId !== ADMIN_ACCOUNT && !ACCOUNT.test(accountId)) {
    throw new Error(`account "${accountId}" must be * or 1 to 128 printable characters without spaces`);
  }
  const { id, key, keyHash } = generateApiKey();
  await store.insertKey({ id, accountId, keyHash, createdAt: now, revokedAt: null });
  return { id, key };
}

/** Whether `key` is a stored, unrevoked key of `accountId`. */
export async function isLiveKeyOf(store: ApiKeyStore, key: string, accountId: string): Promise<boolean> {
  const id = apiKeyIdOf(key);
  const stored = id === null ? null : await store.findKey(id);
  return stored !== null && stored.revokedAt === null && stored.accountId === accountId && matchesHash(key, stored.keyHash);
}
