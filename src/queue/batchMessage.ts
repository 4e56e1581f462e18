import type { BatchMessage } from '../types/entities';

/** A payload that is not a BatchMessage; the reason says what is wrong with it. */
export class MalformedBatchError extends Error {
  override name = 'MalformedBatchError';
}

/**
 * The batch in a queued payload (JSON text), as every queue adapter reads it back. Checks every
 * field the core relies on and keeps any others, so a producer that adds a field does not break
 * older consumers. Throws MalformedBatchError; adapters dead-letter such a payload.
 */
export function parseBatchMessage(text: string): BatchMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new MalformedBatchError(`body is not JSON (${(error as Error).message})`);
  }
  if (!isRecord(value)) throw new MalformedBatchError('body is not a JSON object');
  for (const field of ['actionId', 'accountId', 'entityType'] as const) {
    if (typeof value[field] !== 'string' || value[field] === '') throw new MalformedBatchError(`${field} is not a non-empty string`);
  }
  if (!isIndex(value.batchNo)) throw new MalformedBatchError('batchNo is not a non-negative integer');
  const { entityIds, seqs, firstSeqs } = value;
  if (!Array.isArray(entityIds) || !entityIds.every((id) => typeof id === 'string')) throw new MalformedBatchError('entityIds is not an array of strings');
  if (!Array.isArray(seqs) || !seqs.every(isIndex) || seqs.length !== entityIds.length) {
    throw new MalformedBatchError('seqs is not an array of non-negative integers as long as entityIds');
  }
  if (firstSeqs !== undefined && (!Array.isArray(firstSeqs) || !firstSeqs.every(isIndex) || firstSeqs.length !== entityIds.length)) {
    throw new MalformedBatchError('firstSeqs is not an array of non-negative integers as long as entityIds');
  }
  if (!isRecord(value.fieldsToUpdate)) throw new MalformedBatchError('fieldsToUpdate is not an object');
  return value as unknown as BatchMessage;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
