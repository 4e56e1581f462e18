import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { MongoClient } from 'mongodb';
import { clientOptions } from '../../src/adapters/mongodb/connection';
import { COLLECTIONS, entityCollectionName } from '../../src/adapters/mongodb/schema';

/** The fields of the platform's action document that the baseline writes. */
interface BaselineAction {
  _id: string;
  accountId: string;
  entityType: string;
  status: string;
  fieldsToUpdate: Record<string, unknown>;
  totalEntities: number;
  progress: { processed: number; succeeded: number; failed: number; skipped: number };
}

export interface MongoBaselineOptions {
  url: string;
  /** A database seeded exactly like the platform's (same entities, same indexes). */
  database: string;
  accountId: string;
  ids: string[];
  fields: Record<string, unknown>;
  batchSize: number;
  /** Waited before each round trip a handler makes to the entity store (the find and the updateMany), as CRM_LATENCY_MS does. */
  crmLatencyMs: number;
  /** Documents per insertMany, as MONGODB_MAX_WRITE_OPS bounds the platform's. */
  maxWriteOps: number;
}

/**
 * The bare database work of one bulk update in distributed mode, for comparison: per batch, one
 * find of the batch's entities in the account, one updateMany of the ones found, one insertMany
 * of their outcome documents (split by maxWriteOps, as the platform splits it) and one $inc of the
 * action's counters, written straight with the driver into the collections the platform uses,
 * with their indexes. One batch at a time: no HTTP, no queue, no worker, no de-duplication, no
 * idempotency checks. Returns the seconds it took.
 */
export async function runMongoBaseline(options: MongoBaselineOptions): Promise<number> {
  const { accountId, ids, fields, batchSize, crmLatencyMs, maxWriteOps } = options;
  // The platform's client options: the same write concern (majority) and pool.
  const client = new MongoClient(options.url, clientOptions(options.url));
  await client.connect();
  try {
    const db = client.db(options.database);
    const entities = db.collection<{ _id: string; accountId: string }>(entityCollectionName('contact'));
    const outcomes = db.collection(COLLECTIONS.actionOutcomes);
    const actions = db.collection<BaselineAction>(COLLECTIONS.actions);
    const actionId = 'baseline';
    await actions.insertOne({
      _id: actionId,
      accountId,
      entityType: 'contact',
      status: 'RUNNING',
      fieldsToUpdate: fields,
      totalEntities: ids.length,
      progress: { processed: 0, succeeded: 0, failed: 0, skipped: 0 },
    });
    const set: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(fields)) set[`data.${field}`] = value;

    const start = performance.now();
    for (let from = 0; from < ids.length; from += batchSize) {
      const batch = ids.slice(from, from + batchSize);
      const at = Date.now();
      if (crmLatencyMs > 0) await sleep(crmLatencyMs);
      // Without `data`, as the platform reads contacts when no rule needs their current values.
      const found = await entities.find({ _id: { $in: batch }, accountId }, { projection: { data: 0 } }).toArray();
      const exists = new Set(found.map((d) => d._id));
      if (crmLatencyMs > 0) await sleep(crmLatencyMs);
      const { matchedCount } = await entities.updateMany({ _id: { $in: [...exists] }, accountId }, { $set: { ...set, updatedAt: at } });
      const docs = batch.map((entityId, i) => {
        const ok = exists.has(entityId);
        return { actionId, seq: from + i, entityId, status: ok ? 'SUCCESS' : 'FAILED', code: ok ? null : 'NOT_FOUND', message: null, processedAt: at };
      });
      for (let i = 0; i < docs.length; i += maxWriteOps) await outcomes.insertMany(docs.slice(i, i + maxWriteOps), { ordered: false });
      await actions.updateOne(
        { _id: actionId },
        { $inc: { 'progress.processed': batch.length, 'progress.succeeded': matchedCount, 'progress.failed': batch.length - matchedCount } },
      );
    }
    return (performance.now() - start) / 1000;
  } finally {
    await client.close();
  }
}
