import { createHash } from 'node:crypto';
import type { BatchMessage, FieldUpdates } from '../types/entities';

/** Entities to process, each with its position (seq) in the request. */
export interface PlannedEntities {
  ids: string[];
  seqs: number[];
}

/** A later occurrence of an ID: it is never processed, only recorded as SKIPPED. */
export interface RepeatedId {
  seq: number;
  entityId: string;
  /** Position of the first occurrence, which is the one processed. */
  firstSeq: number;
}

export interface EntityPlan {
  unique: PlannedEntities;
  repeats: RepeatedId[];
}

/**
 * Splits the request into first occurrences and repeats in one pass. Seqs are positions in the
 * request, so outcomes line up with what the client sent, repeats included.
 */
export function planBatches(entityIds: string[]): EntityPlan {
  const firstSeqOf = new Map<string, number>();
  const ids: string[] = [];
  const seqs: number[] = [];
  const repeats: RepeatedId[] = [];
  for (let seq = 0; seq < entityIds.length; seq++) {
    const entityId = entityIds[seq] as string;
    const firstSeq = firstSeqOf.get(entityId);
    if (firstSeq === undefined) {
      firstSeqOf.set(entityId, seq);
      ids.push(entityId);
      seqs.push(seq);
    } else {
      repeats.push({ seq, entityId, firstSeq });
    }
  }
  return { unique: { ids, seqs }, repeats };
}

/** What every batch of an action carries besides its positions (the spec's "account context"). */
export interface BatchContext {
  actionId: string;
  accountId: string;
  entityType: string;
  fieldsToUpdate: FieldUpdates;
}

/**
 * The batch plan of an action: queue messages of at most `batchSize` positions each, numbered
 * from 0. First occurrences come first, then the repeated IDs in batches of their own, so every
 * submitted position belongs to exactly one batch and is counted when that batch finishes.
 * Throws RangeError for a batchSize below 1.
 */
export function splitIntoBatches(context: BatchContext, plan: EntityPlan, batchSize: number): BatchMessage[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer; got ${batchSize}`);
  const batches: BatchMessage[] = [];
  const { ids, seqs } = plan.unique;
  for (let start = 0; start < ids.length; start += batchSize) {
    batches.push({
      ...context,
      batchNo: batches.length,
      entityIds: ids.slice(start, start + batchSize),
      seqs: seqs.slice(start, start + batchSize),
    });
  }
  for (let start = 0; start < plan.repeats.length; start += batchSize) {
    const slice = plan.repeats.slice(start, start + batchSize);
    batches.push({
      ...context,
      batchNo: batches.length,
      entityIds: slice.map((r) => r.entityId),
      seqs: slice.map((r) => r.seq),
      firstSeqs: slice.map((r) => r.firstSeq),
    });
  }
  return batches;
}

/** IDs hashed per chunk: one hash.update per ID would cost a native call each, a million times. */
const IDS_PER_CHUNK = 4096;

/**
 * sha256 (hex) of what an action does, used to spot the same payload sent twice.
 * Canonical: field keys sorted, IDs in request order (order decides seqs, so it is part of the
 * payload). Each ID is length-prefixed so that no ID containing a separator can make two different
 * lists hash alike; the header is JSON, which is unambiguous for the same reason.
 */
export function payloadHash(accountId: string, entityType: string, entityIds: string[], fieldsToUpdate: FieldUpdates): string {
  const sortedFields = Object.keys(fieldsToUpdate)
    .sort()
    .map((key) => [key, fieldsToUpdate[key]]);
  const hash = createHash('sha256');
  hash.update(JSON.stringify(['bulk-action/v1', accountId, entityType, sortedFields, entityIds.length]));
  hash.update('\n');
  let chunk = '';
  for (let i = 0; i < entityIds.length; i++) {
    const id = entityIds[i] as string;
    chunk += `${id.length}:${id}\n`;
    if ((i + 1) % IDS_PER_CHUNK === 0) {
      hash.update(chunk);
      chunk = '';
    }
  }
  hash.update(chunk);
  return hash.digest('hex');
}
