import { MongoServerError, type Collection, type Db, type Document, type IndexDescription } from 'mongodb';
import type { Logger } from '../../observability/logger';

/**
 * The collections of the MongoDB adapters, inside the configured database (no prefix: one
 * database per deployment). What each holds:
 * - `actions`: one document per action (`_id` = action id) with its counters and per-code counts.
 * - `action_claims`: `key:<account>:<Idempotency-Key>` and `payload:<account>:<hash>` pointing to
 *   the action that holds them; the cross-process duplicate check (there are no transactions).
 * - `action_batches`: the batch plan (the outbox), `_id` = `<actionId>:<batchNo>`; deleted at completion.
 * - `action_outcomes`: one document per submitted position, unique on (actionId, seq).
 * - `action_key_claims`: temporary de-dup key owners, `_id` = `<actionId>:<key>`; deleted at completion.
 * - `action_purges`: actions whose retention purge has begun (`_id` = action id); see purge.ts.
 * - `rate_limits`: one document per rate-limited key (an account).
 * - `api_keys`: API keys by id (`_id`), account and sha256 hash, never the key; see src/auth/.
 * - `document_locks`: only on servers without atomic updates (FerretDB 1.x); see documentLocks.ts.
 * - `entities_<type>`: the CRM records of one entity type, `_id` = entity id.
 */
export const COLLECTIONS = {
  actions: 'actions',
  actionClaims: 'action_claims',
  actionBatches: 'action_batches',
  actionOutcomes: 'action_outcomes',
  actionKeyClaims: 'action_key_claims',
  actionPurges: 'action_purges',
  rateLimits: 'rate_limits',
  documentLocks: 'document_locks',
  apiKeys: 'api_keys',
} as const;

/** What MongoDB answers for a feature the server does not have (FerretDB 1.x: partial and TTL indexes). */
const NOT_IMPLEMENTED = 238;

/** Entity types name collections: keep them to characters every server accepts in a collection name. */
const ENTITY_TYPE = /^[A-Za-z0-9_-]{1,100}$/;

/** The collection of one entity type. Throws for a type name that cannot be a collection name. */
export function entityCollectionName(entityType: string): string {
  if (!ENTITY_TYPE.test(entityType)) throw new Error(`entity type "${entityType}" must be 1 to 100 of [A-Za-z0-9_-]`);
  return `entities_${entityType}`;
}

const JOB_INDEXES: Record<string, IndexDescription[]> = {
  [COLLECTIONS.actions]: [
    // GET /api/bulk-actions?accountId=..., newest first; _id breaks ties in createdAt.
    { key: { accountId: 1, createdAt: -1, _id: -1 }, name: 'by_account_newest' },
    { key: { createdAt: -1, _id: -1 }, name: 'newest' },
    // The outbox sweeper: only the few unpublished actions are indexed.
    { key: { published: 1, createdAt: 1 }, name: 'unpublished', partialFilterExpression: { published: false } },
    // The retention purge: the oldest finished actions first. Unfinished actions have no completedAt.
    { key: { completedAt: 1 }, name: 'completed', partialFilterExpression: { completedAt: { $exists: true } } },
  ],
  // The retention purge deletes an action's claims by action.
  [COLLECTIONS.actionClaims]: [{ key: { actionId: 1 }, name: 'by_action' }],
  [COLLECTIONS.actionBatches]: [{ key: { actionId: 1, batchNo: 1 }, name: 'by_action' }],
  [COLLECTIONS.actionOutcomes]: [
    // The exactly-once guarantee: a position has at most one outcome.
    { key: { actionId: 1, seq: 1 }, name: 'by_action_seq', unique: true },
    { key: { actionId: 1, status: 1, seq: 1 }, name: 'by_action_status_seq' },
  ],
  [COLLECTIONS.actionKeyClaims]: [{ key: { actionId: 1 }, name: 'by_action' }],
  // Idle keys go away by themselves once every hit has left the window.
  [COLLECTIONS.rateLimits]: [{ key: { expiresAt: 1 }, name: 'idle', expireAfterSeconds: 0 }],
};

const ENTITY_INDEXES: IndexDescription[] = [
  // Counting an account's entities; every read is scoped by account.
  { key: { accountId: 1, _id: 1 }, name: 'by_account' },
  // keyShared: the holders of some de-dup keys in an account. Entities without a key are not indexed.
  { key: { accountId: 1, dedupeKey: 1 }, name: 'by_account_key', partialFilterExpression: { dedupeKey: { $exists: true } } },
];

/**
 * Creates the job store's and the rate limiter's indexes (idempotent: an existing identical index
 * is left alone). Run at start-up by `openMongoStores`. Entity collections get theirs on first use
 * (`ensureEntityIndexes`), since entity types come from the handler registry.
 *
 * A server without partial indexes (FerretDB 1.x answers NotImplemented) gets the same index
 * without its filter: bigger, same results. One without TTL indexes (FerretDB 1.x) gets none:
 * idle rate-limit documents then stay (one small document per account). Both are logged as warnings.
 * Any other error (for example an existing index with the same name and other options) is thrown.
 */
export async function ensureIndexes(db: Db, logger?: Logger): Promise<void> {
  for (const [name, indexes] of Object.entries(JOB_INDEXES)) {
    await createIndexes(db.collection(name), indexes, logger);
  }
}

/** The indexes of one entity type's collection; see `ensureIndexes` for servers without partial indexes. */
export async function ensureEntityIndexes<T extends Document>(collection: Collection<T>, logger?: Logger): Promise<void> {
  await createIndexes(collection, ENTITY_INDEXES, logger);
}

/**
 * One command per index: FerretDB 1.24 drops the connection (a server-side panic) when every index
 * of a multi-index createIndexes already exists, which is every start-up after the first.
 */
async function createIndexes<T extends Document>(collection: Collection<T>, indexes: IndexDescription[], logger?: Logger): Promise<void> {
  for (const index of indexes) await createIndex(collection, index, logger);
}

async function createIndex<T extends Document>(collection: Collection<T>, index: IndexDescription, logger?: Logger): Promise<void> {
  try {
    await collection.createIndexes([index]);
    return;
  } catch (thrown) {
    if (!isNotImplemented(thrown)) throw thrown;
  }
  const where = { collection: collection.collectionName, index: index.name };
  if (index.expireAfterSeconds !== undefined) {
    logger?.warn(where, 'the server has no TTL indexes: idle documents are not removed');
    return;
  }
  if (index.partialFilterExpression !== undefined) {
    const { partialFilterExpression: _filter, ...full } = index;
    logger?.warn(where, 'the server has no partial indexes: indexing every document instead');
    await collection.createIndexes([full]);
    return;
  }
  throw new Error(`the server cannot create index ${index.name} on ${collection.collectionName}`);
}

function isNotImplemented(thrown: unknown): boolean {
  return thrown instanceof MongoServerError && thrown.code === NOT_IMPLEMENTED;
}
