import { MongoBulkWriteError, MongoServerError, type AnyBulkWriteOperation, type Collection, type Document, type OptionalUnlessRequiredId } from 'mongodb';

/** MongoDB's duplicate key error: a unique index (or `_id`) already holds the value. */
const DUPLICATE_KEY = 11000;

/** Whether the driver threw MongoDB's duplicate key error (of a single-document write). */
export function isDuplicateKeyError(thrown: unknown): boolean {
  return thrown instanceof MongoServerError && thrown.code === DUPLICATE_KEY;
}

/**
 * Splits `items` into slices of at most `size`, for write commands bounded by
 * `DistributedSettings.mongodbMaxWriteOps`. MongoDB itself takes 100,000 operations per command
 * (and the driver splits larger ones) and 16 MiB per document; FerretDB 1.24 hangs on an update
 * command of 50 or more statements (PostgreSQL backend; 100 on SQLite) while announcing 100,000,
 * so the bound is a setting, and every multi-document write of these adapters goes through here.
 */
export function chunksOf<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer; got ${size}`);
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/**
 * Inserts `docs` unordered, at most `maxWriteOps` per insertMany. A document whose unique key
 * (`_id` or a unique index) is already taken is left out: that is how a retried write stays a
 * no-op. Returns the positions in `docs` of the documents left out. Any other write error, and a
 * write concern error, is thrown as the driver raised it (the caller's whole call may be retried).
 */
export async function insertIgnoringDuplicates<T extends Document>(
  collection: Collection<T>,
  docs: OptionalUnlessRequiredId<T>[],
  maxWriteOps: number,
): Promise<number[]> {
  const duplicates: number[] = [];
  let offset = 0;
  for (const chunk of chunksOf(docs, maxWriteOps)) {
    try {
      await collection.insertMany(chunk, { ordered: false });
    } catch (thrown) {
      if (!(thrown instanceof MongoBulkWriteError) || thrown.result.getWriteConcernError() !== undefined) throw thrown;
      const errors = thrown.result.getWriteErrors();
      if (errors.length === 0 || errors.some((error) => error.code !== DUPLICATE_KEY)) throw thrown;
      for (const error of errors) duplicates.push(offset + error.index);
    }
    offset += chunk.length;
  }
  return duplicates;
}

/** Runs `operations` unordered, at most `maxWriteOps` per bulkWrite (see `chunksOf`). */
export async function bulkWriteInChunks<T extends Document>(
  collection: Collection<T>,
  operations: AnyBulkWriteOperation<T>[],
  maxWriteOps: number,
): Promise<void> {
  for (const chunk of chunksOf(operations, maxWriteOps)) await collection.bulkWrite(chunk, { ordered: false });
}
