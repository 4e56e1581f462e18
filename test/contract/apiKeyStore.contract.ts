import { describe, expect, it } from 'vitest';
import type { ApiKeyStore } from '../../src/auth/apiKeyStore';
import { ApiKeyAuthenticator, KEY_CACHE_MS } from '../../src/auth/authenticator';
import { generateApiKey } from '../../src/auth/apiKeys';
import { issueApiKey } from '../../src/auth/issueKey';

/** Builds a fresh, empty key store. */
export type MakeApiKeyStore = () => Promise<{ store: ApiKeyStore; cleanup: () => Promise<void> }>;

const T0 = 1_700_000_000_000;

/** The ApiKeyStore port's behaviour, and the authenticator on top of it, run against every adapter. */
export function describeApiKeyStoreContract(name: string, make: MakeApiKeyStore): void {
  describe(`ApiKeyStore contract: ${name}`, () => {
    async function withStore(body: (store: ApiKeyStore) => Promise<void>): Promise<void> {
      const { store, cleanup } = await make();
      try {
        await body(store);
      } finally {
        await cleanup();
      }
    }

    it('stores a key by id with its hash, never the key, and lists keys oldest first', () =>
      withStore(async (store) => {
        const a = generateApiKey();
        const b = generateApiKey();
        await store.insertKey({ id: b.id, accountId: 'beta', keyHash: b.keyHash, createdAt: T0 + 1, revokedAt: null });
        await store.insertKey({ id: a.id, accountId: 'acme', keyHash: a.keyHash, createdAt: T0, revokedAt: null });
        expect(await store.findKey(a.id)).toEqual({ id: a.id, accountId: 'acme', keyHash: a.keyHash, createdAt: T0, revokedAt: null });
        expect(await store.findKey('0000000000000000')).toBeNull();
        const listed = await store.listKeys();
        expect(listed.map((k) => k.id)).toEqual([a.id, b.id]);
        expect(JSON.stringify(listed)).not.toContain(a.key.slice(21));
      }));

    it('revokes once: the first time stays, an unknown id says so', () =>
      withStore(async (store) => {
        const { id } = await issueApiKey(store, 'acme', T0);
        expect(await store.revokeKey(id, T0 + 10)).toBe(true);
        expect(await store.revokeKey(id, T0 + 20)).toBe(true);
        expect((await store.findKey(id))?.revokedAt).toBe(T0 + 10);
        expect(await store.revokeKey('ffffffffffffffff', T0)).toBe(false);
      }));

    it('authenticates a stored key for its account, not a tampered one, and stops within KEY_CACHE_MS of its revocation', () =>
      withStore(async (store) => {
        let now = T0;
        const auth = new ApiKeyAuthenticator(store, [], () => now);
        const { id, key } = await issueApiKey(store, 'acme', T0);
        expect(await auth.authenticate(key)).toEqual({ keyId: id, accountId: 'acme' });
        const tampered = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
        expect(await auth.authenticate(tampered)).toBeNull();
        await store.revokeKey(id, now);
        now += KEY_CACHE_MS;
        expect(await auth.authenticate(key)).toBeNull();
      }));
  });
}
