import type { JobStore } from '../store/jobStore';
import type { BatchMessage, Outcome, OutcomeParams } from '../types/entities';

// The positions of a batch and the outcomes the core itself decides for them (codes: README,
// "Outcome codes"). Handlers' own results become outcomes in processBatch.ts.

/** One submitted entity ID of a batch: its position in the request (outcomes are keyed by it) and the ID. */
export interface Position {
  seq: number;
  entityId: string;
}

/** The batch's positions, in batch order. */
export function toPositions(batch: BatchMessage): Position[] {
  return batch.entityIds.map((entityId, i) => ({ entityId, seq: batch.seqs[i]! }));
}

/** The positions that have no outcome yet: a redelivered batch only does those. */
export async function withoutRecorded(jobStore: JobStore, actionId: string, positions: Position[]): Promise<Position[]> {
  const recorded = await jobStore.recordedSeqs(actionId, positions.map((p) => p.seq));
  return recorded.size === 0 ? positions : positions.filter((p) => !recorded.has(p.seq));
}

/**
 * The outcome of one position. `code` is null only for SUCCESS; `params` are the few values its
 * message needs beyond the action and the row (src/outcomeMessages.ts renders it when the logs are
 * read): no sentence is stored per row.
 */
export function outcome(p: Position, status: Outcome['status'], code: string | null, params: OutcomeParams | null = null): Outcome {
  return { seq: p.seq, entityId: p.entityId, status, code, params };
}

/** FAILED with the same code and params for every position. */
export function failAll(positions: Position[], code: string, params: OutcomeParams | null = null): Outcome[] {
  return positions.map((p) => outcome(p, 'FAILED', code, params));
}

/** SKIPPED DUPLICATE_ID for the positions of a batch of repeated IDs. */
export function repeatOutcomes(batch: BatchMessage, pending: Position[]): Outcome[] {
  const firstSeqOf = new Map(batch.seqs.map((seq, i) => [seq, batch.firstSeqs![i]!]));
  return pending.map((p) => outcome(p, 'SKIPPED', 'DUPLICATE_ID', { firstSeq: firstSeqOf.get(p.seq)! }));
}

/** SKIPPED SUPERSEDED: an action created later wrote the entity (a stamp does not say which). */
export function superseded(p: Position): Outcome {
  return outcome(p, 'SKIPPED', 'SUPERSEDED', null);
}
