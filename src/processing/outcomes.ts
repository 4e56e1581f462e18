import type { JobStore } from '../store/jobStore';
import { writerActionId } from '../store/entityStore';
import type { BatchMessage, Outcome } from '../types/entities';

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

/** The outcome of one position. `code` is null only for SUCCESS. */
export function outcome(p: Position, status: Outcome['status'], code: string | null, message: string | null): Outcome {
  return { seq: p.seq, entityId: p.entityId, status, code, message };
}

/** FAILED with the same code and message for every position. */
export function failAll(positions: Position[], code: string, message: string): Outcome[] {
  return positions.map((p) => outcome(p, 'FAILED', code, message));
}

/** SKIPPED DUPLICATE_ID for the positions of a batch of repeated IDs. */
export function repeatOutcomes(batch: BatchMessage, pending: Position[]): Outcome[] {
  const firstSeqOf = new Map(batch.seqs.map((seq, i) => [seq, batch.firstSeqs![i]!]));
  return pending.map((p) => outcome(p, 'SKIPPED', 'DUPLICATE_ID', `entity ID repeats the one at position ${firstSeqOf.get(p.seq)}`));
}

/** SKIPPED SUPERSEDED: a newer action (the writer stamp's, when known) wrote the entity. */
export function superseded(p: Position, batch: BatchMessage, writer: string | null): Outcome {
  const by = writer === null ? 'a newer action' : `action ${writerActionId(writer)}, created later`;
  return outcome(p, 'SKIPPED', 'SUPERSEDED', `${batch.entityType} ${p.entityId} was written by ${by}; the later action wins`);
}
