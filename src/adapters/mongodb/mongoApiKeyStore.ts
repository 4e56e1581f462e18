import type { Collection, Db } from 'mongodb';
import type { ApiKeyStore, StoredApiKey } from '../../auth/apiKeyStore';
import { COLLECTIONS } from './schema';

interface KeyDocument {
  _id: string;
  accountId: string;
  keyHash: string;
  createdAt: number;
  revokedAt: number | null;
}

function toKey(d: KeyDocument): StoredApiKey {
  return { id: d._id, accountId: d.accountId, keyHash: d.keyHash, createdAt: d.createdAt, revokedAt: d.revokedAt };
}

/** API keys in MongoDB (collection api_keys, `_id` = the key's id). */
export class MongoApiKeyStore implements ApiKeyStore {
  private readonly keys: Collection<KeyDocument>;

  constructor(db: Db) {
    this.keys = db.collection<KeyDocument>(COLLECTIONS.apiKeys);
  }

  async insertKey(key: StoredApiKey): Promise<void> {
    await this.keys.insertOne({ _id: key.id, accountId: key.accountId, keyHash: key.keyHash, createdAt: key.createdAt, revokedAt: key.revokedAt });
  }

  async findKey(id: string): Promise<StoredApiKey | null> {
    const doc = await this.keys.findOne({ _id: id });
    return doc ? toKey(doc) : null;
  }

  async listKeys(): Promise<StoredApiKey[]> {
    return (await this.keys.find({}).sort({ createdAt: 1, _id: 1 }).toArray()).map(toKey);
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    // Only a key not yet revoked is updated, so a second revoke keeps the first time.
    await this.keys.updateOne({ _id: id, revokedAt: null }, { $set: { revokedAt: at } });
    return (await this.keys.countDocuments({ _id: id }, { limit: 1 })) > 0;
  }
}
