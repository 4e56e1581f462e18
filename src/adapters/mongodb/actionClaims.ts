import type { Collection } from 'mongodb';
import { CreateInProgressError, type ExistingAction, type NewAction } from '../../store/jobStore';
import { toAction, type ActionDocument } from './actionDocuments';
import { isDuplicateKeyError } from './bulkInsert';
import type { UpdateSerializer } from './documentLocks';
import { COLLECTIONS } from './schema';

/** `action_claims`: which action holds an Idempotency-Key or a payload hash in an account. */
export interface ClaimDocument {
  _id: string;
  actionId: string;
  /** The holder's createdAt (epoch ms, the creating process's clock). */
  createdAt: number;
}

/**
 * A claim whose action never appeared this long after it was taken belongs to a create that died
 * between its claim and its action insert: the next identical request takes it over (ms).
 */
export const STALE_CLAIM_MS = 60_000;

/** Tries at one claim before giving up when other creates keep moving it (each try is 2-3 round trips). */
const MAX_CLAIM_ATTEMPTS = 10;

/** The claim of an Idempotency-Key. The account is URI-encoded so that no `:` in it can make two (account, key) pairs one id. */
export function keyClaimId(accountId: string, idempotencyKey: string): string {
  return `key:${encodeURIComponent(accountId)}:${idempotencyKey}`;
}

/** The claim of a payload hash in an account (the duplicate window's check). */
export function payloadClaimId(accountId: string, payloadHash: string): string {
  return `payload:${encodeURIComponent(accountId)}:${payloadHash}`;
}

/** A claim this create holds, and whom it took it from (null: it was new). */
export interface TakenClaim {
  _id: string;
  previous: ClaimDocument | null;
}

/** What to do with a claim another action holds: take it over, or leave it (and answer with this). */
type Judgement = { take: true } | { take: false; answer: ExistingAction | null };
type Verdict = { take: true; claim: TakenClaim } | { take: false; answer: ExistingAction | null };

/**
 * Duplicate detection across processes without transactions. Each create first inserts (or takes
 * over) its claim documents; `_id` uniqueness makes exactly one of two racing requests the holder.
 * Claims stay after the action is stored: they are how later requests find it.
 */
export class ActionClaims {
  constructor(
    private readonly claims: Collection<ClaimDocument>,
    private readonly actions: Collection<ActionDocument>,
    private readonly updates: UpdateSerializer,
  ) {}

  /** The stored action a request repeats, by claims; null if none (a claim whose action is not stored yet counts as none). */
  async findExisting(accountId: string, idempotencyKey: string | null, payloadHash: string, duplicateSince: number | null): Promise<ExistingAction | null> {
    const keyId = idempotencyKey === null ? null : keyClaimId(accountId, idempotencyKey);
    const payloadId = duplicateSince === null ? null : payloadClaimId(accountId, payloadHash);
    const ids = [keyId, payloadId].filter((id): id is string => id !== null);
    if (ids.length === 0) return null;
    const held = await this.claims.find({ _id: { $in: ids } }).toArray();
    if (held.length === 0) return null;
    const docs = await this.actions.find({ _id: { $in: held.map((c) => c.actionId) } }).toArray();
    const holderOf = (id: string | null) => {
      const claim = held.find((c) => c._id === id);
      return claim && docs.find((d) => d._id === claim.actionId);
    };
    const byKey = holderOf(keyId);
    if (byKey) return keyAnswer(byKey);
    const byPayload = holderOf(payloadId);
    if (byPayload && duplicateSince !== null && byPayload.createdAt >= duplicateSince) return payloadAnswer(byPayload);
    return null;
  }

  /**
   * Takes the claims of a new action: its Idempotency-Key (if any) and its payload hash. Returns
   * the claims taken (for `release`), or the earlier action the request repeats (then it holds
   * none). The payload claim always moves to the newest action, so a later window check finds it.
   * Throws CreateInProgressError when the holder's create is still running (its action is not
   * stored, and its claim is younger than STALE_CLAIM_MS); driver errors are thrown as they are.
   */
  async take(input: NewAction, duplicateSince: number | null): Promise<{ taken: TakenClaim[] } | { existing: ExistingAction }> {
    const { action } = input;
    const taken: TakenClaim[] = [];
    const mine = (id: string): ClaimDocument => ({ _id: id, actionId: action.id, createdAt: action.createdAt });
    try {
      if (input.idempotencyKey !== null) {
        const verdict = await this.claim(mine(keyClaimId(action.accountId, input.idempotencyKey)), async (held) => {
          const doc = await this.actions.findOne({ _id: held.actionId });
          if (doc) return { take: false, answer: keyAnswer(doc) };
          assertStale(held, action.createdAt, 'IDEMPOTENCY_KEY');
          return { take: true };
        });
        if (verdict.take) taken.push(verdict.claim);
        else if (verdict.answer) return { existing: verdict.answer };
      }

      const verdict = await this.claim(mine(payloadClaimId(action.accountId, input.payloadHash)), async (held) => {
        if (duplicateSince === null || held.createdAt < duplicateSince) {
          // Not a duplicate: the claim follows the newer of the two actions.
          return held.createdAt > action.createdAt ? { take: false, answer: null } : { take: true };
        }
        const doc = await this.actions.findOne({ _id: held.actionId });
        if (doc) return { take: false, answer: payloadAnswer(doc) };
        assertStale(held, action.createdAt, 'DUPLICATE_PAYLOAD');
        return { take: true };
      });
      if (verdict.take) taken.push(verdict.claim);
      else if (verdict.answer) {
        await this.release(taken, action.id);
        return { existing: verdict.answer };
      }
      return { taken };
    } catch (thrown) {
      // Best effort: a claim left behind only delays an identical request by STALE_CLAIM_MS.
      await this.release(taken, action.id).catch(() => undefined);
      throw thrown;
    }
  }

  /**
   * Gives back the claims of an action that will not be stored, so that an identical retry is not
   * told "in progress": a claim taken over goes back to its previous holder, a new one is deleted.
   * Only claims still held by `actionId` are touched.
   */
  async release(taken: TakenClaim[], actionId: string): Promise<void> {
    for (const { _id, previous } of taken) {
      await this.updates.run(COLLECTIONS.actionClaims, _id, async () => {
        if (previous === null) await this.claims.deleteOne({ _id, actionId });
        else await this.claims.updateOne({ _id, actionId }, { $set: { actionId: previous.actionId, createdAt: previous.createdAt } });
      });
    }
  }

  /** Makes `mine` the holder of its claim unless `judge` keeps the current holder; see `take`. */
  private async claim(mine: ClaimDocument, judge: (held: ClaimDocument) => Promise<Judgement>): Promise<Verdict> {
    for (let attempt = 0; attempt < MAX_CLAIM_ATTEMPTS; attempt++) {
      try {
        await this.claims.insertOne(mine);
        return { take: true, claim: { _id: mine._id, previous: null } };
      } catch (thrown) {
        if (!isDuplicateKeyError(thrown)) throw thrown;
      }
      const held = await this.claims.findOne({ _id: mine._id });
      if (held === null) continue; // released between our insert and our read
      // A retry of this very create: the claim is already ours (and was new, as far as we know).
      if (held.actionId === mine.actionId) return { take: true, claim: { _id: mine._id, previous: null } };
      const judgement = await judge(held);
      if (!judgement.take) return judgement;
      // Matches only the holder we judged: of two processes taking it over, one wins, the other looks again.
      const moved = await this.updates.run(COLLECTIONS.actionClaims, mine._id, () =>
        this.claims.updateOne(
          { _id: mine._id, actionId: held.actionId, createdAt: held.createdAt },
          { $set: { actionId: mine.actionId, createdAt: mine.createdAt } },
        ));
      if (moved.matchedCount === 1) return { take: true, claim: { _id: mine._id, previous: held } };
    }
    throw new Error(`the claim ${mine._id} kept changing hands during ${MAX_CLAIM_ATTEMPTS} attempts; try again`);
  }
}

function assertStale(held: ClaimDocument, now: number, reason: ExistingAction['reason']): void {
  if (now - held.createdAt < STALE_CLAIM_MS) throw new CreateInProgressError(reason, held.actionId);
}

function keyAnswer(doc: ActionDocument): ExistingAction {
  return { created: false, reason: 'IDEMPOTENCY_KEY', existing: toAction(doc), payloadHash: doc.payloadHash, creationResponse: doc.creationResponse };
}

function payloadAnswer(doc: ActionDocument): ExistingAction {
  return { created: false, reason: 'DUPLICATE_PAYLOAD', existing: toAction(doc) };
}
