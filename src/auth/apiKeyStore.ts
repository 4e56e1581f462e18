/**
 * The port for stored API keys (SQLite: src/adapters/sqlite/sqliteApiKeyStore.ts; MongoDB:
 * src/adapters/mongodb/mongoApiKeyStore.ts). Keys from API_KEYS are never stored: they live in
 * config only.
 */
export interface StoredApiKey {
  /** 16 hex digits, the public part of `bap_<id>_<secret>`. */
  id: string;
  /** The account the key acts for, or `*` for an admin key. */
  accountId: string;
  /** sha256 of the whole key, hex. */
  keyHash: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; null while the key is valid. */
  revokedAt: number | null;
}

export interface ApiKeyStore {
  /** Stores a new key; its id is new (random 64 bits). */
  insertKey(key: StoredApiKey): Promise<void>;
  /** The key with this id, revoked or not; null if there is none. */
  findKey(id: string): Promise<StoredApiKey | null>;
  /** Every key, oldest first. */
  listKeys(): Promise<StoredApiKey[]>;
  /** Marks the key revoked at `at` (epoch ms). False when there is no such key; a second revoke keeps the first time and returns true. */
  revokeKey(id: string, at: number): Promise<boolean>;
}
