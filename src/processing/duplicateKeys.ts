import { duplicateKeyCode } from '../errors';
import type { BaseEntityHandler } from '../handlers/BaseEntityHandler';
import type { JobStore, KeyClaim } from '../store/jobStore';
import type { BatchMessage, Outcome } from '../types/entities';
import { outcome, type Position } from './outcomes';

/**
 * "Skip duplicate entities based on email": of the entities in one action that share the type's
 * de-dup key, the first to be processed is updated and the rest are SKIPPED. Only keys that the
 * store says are shared in the account need a claim, which keeps the claim table small.
 */
export async function skipDuplicateKeys(
  jobStore: JobStore,
  handler: BaseEntityHandler,
  batch: BatchMessage,
  candidates: Position[],
  byId: Map<string, { dedupeKey: string | null; keyShared: boolean }>,
  outcomes: Outcome[],
): Promise<Position[]> {
  const field = handler.dedupeKey;
  if (field === undefined) return candidates;
  const claims: KeyClaim[] = [];
  for (const p of candidates) {
    const s = byId.get(p.entityId)!;
    if (s.keyShared && s.dedupeKey !== null) claims.push({ key: s.dedupeKey, seq: p.seq, entityId: p.entityId });
  }
  if (claims.length === 0) return candidates;
  const owners = await jobStore.claimKeys(batch.actionId, claims);
  const eligible: Position[] = [];
  const code = duplicateKeyCode(field);
  for (const p of candidates) {
    const key = byId.get(p.entityId)!.dedupeKey;
    const owner = key === null ? undefined : owners.get(key);
    if (!owner || owner.seq === p.seq) eligible.push(p);
    else outcomes.push(outcome(p, 'SKIPPED', code, { ownerId: owner.entityId }));
  }
  return eligible;
}
