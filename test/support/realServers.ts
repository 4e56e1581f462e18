import { MongoClient } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
import { isFerretDb } from '../../src/adapters/mongodb/connection';

/**
 * Direct access to the real servers, for distributed-mode tests: reading what the platform wrote.
 * (Removing what a test created: scripts/realServers.ts, shared with the benchmarks.) Tests may
 * use the drivers for this; the product's code reaches them only through its adapters.
 */

/** The stored documents of these entities (MongoDB adapter layout: `entities_<type>`, id as `_id`), in one query. */
export async function findEntities(mongodbUrl: string, database: string, entityType: string, ids: string[]): Promise<Map<string, { accountId: string; data: Record<string, unknown>; createdAt: number; updatedAt: number }>> {
  const client = await MongoClient.connect(mongodbUrl);
  try {
    const docs = await client.db(database).collection<{ _id: string; accountId: string; data: Record<string, unknown>; createdAt: number; updatedAt: number }>(`entities_${entityType}`)
      .find({ _id: { $in: ids } }).toArray();
    return new Map(docs.map(({ _id, ...rest }) => [_id, rest]));
  } finally {
    await client.close();
  }
}

/** One client to the test's MongoDB server for a whole test file, and whether that server is FerretDB. */
export interface MongoAdmin {
  readonly client: MongoClient;
  /** FerretDB lacks some MongoDB features: tests of those are named skips there. */
  readonly ferretDb: boolean;
}

/**
 * Registers beforeAll/afterAll around one client to `mongodbUrl` (call it inside a describe);
 * read the returned object's fields only in tests and hooks, after beforeAll has run.
 */
export function mongoAdmin(mongodbUrl: string): MongoAdmin {
  const admin = { client: null as unknown as MongoClient, ferretDb: false };
  beforeAll(async () => {
    admin.client = await MongoClient.connect(mongodbUrl);
    admin.ferretDb = await isFerretDb(admin.client.db('admin'));
  });
  afterAll(async () => {
    await admin.client.close();
  });
  return admin;
}
