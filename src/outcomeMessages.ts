import type { OutcomeParams } from './types/entities';

/**
 * The outcome-message catalogue: how each reason code reads in GET /api/bulk-actions/:id/logs.
 *
 * An outcome is stored as its code and the few values its message needs beyond what the action and
 * the row already say (`params`), never as a sentence: a sentence per row was most of the 985 MB
 * that 8M outcome rows took. The message is rendered here when the logs are read.
 *
 * A template names values in braces, taken from the outcome's params first, then from its context
 * (`entityType`, `entityId`, `accountId` of the row and its action; `dedupeKey`, the type's de-dup
 * field). A part in square brackets is left out when a value it names is missing. Words only a handler knows (a PermanentError's message, a failed check) are stored as
 * `params.detail` and shown as they are. Codes without a template (a handler's own) show their
 * detail, or no message.
 */
export const OUTCOME_MESSAGES: Readonly<Record<string, string>> = {
  NOT_FOUND: 'no {entityType} {entityId} in account {accountId}',
  DUPLICATE_ID: 'entity ID repeats the one at position {firstSeq}',
  VALIDATION_FAILED: '{entityType} {entityId} did not pass validation',
  UPDATE_FAILED: '{entityType} {entityId} could not be updated',
  RETRIES_EXHAUSTED: 'transient errors outlasted every delivery of the batch',
  UNKNOWN_ENTITY_TYPE: 'no handler is registered for {entityType}',
  SUPERSEDED: '{entityType} {entityId} was written by a newer action[ ({newerActionId})]; the later action wins',
};

/** `DUPLICATE_<KEY>` (see duplicateKeyCode in errors.ts): skipped for the type's de-dup key. */
const DUPLICATE_KEY = /^DUPLICATE_(?!ID$)[A-Z0-9_]+$/;
const DUPLICATE_KEY_MESSAGE = 'same {dedupeKey} as {ownerId}, which holds it in this action';

/** What a message may name besides the outcome's own params. */
export interface OutcomeContext {
  entityType: string;
  entityId: string;
  accountId: string;
  /** The entity type's de-dup field (e.g. `email`), for DUPLICATE_<KEY>; "key" when the type has none any more. */
  dedupeKey?: string;
}

/** The message of an outcome as clients read it; null for a SUCCESS (no code) and for a code with neither template nor detail. */
export function outcomeMessage(code: string | null, params: OutcomeParams | null, context: OutcomeContext): string | null {
  if (code === null) return null;
  if (params?.detail !== undefined) return String(params.detail);
  const template = OUTCOME_MESSAGES[code] ?? (DUPLICATE_KEY.test(code) ? DUPLICATE_KEY_MESSAGE : undefined);
  if (template === undefined) return null;
  const values: Record<string, string | number | undefined> = { ...context, dedupeKey: context.dedupeKey ?? 'key', ...params };
  const fill = (text: string) => text.replace(/\{(\w+)\}/g, (whole, name: string) => (values[name] === undefined ? whole : String(values[name])));
  // An optional part goes when it would show a placeholder.
  return fill(template.replace(/\[([^\]]*)\]/g, (_whole, part: string) => (/\{\w+\}/.test(fill(part)) ? '' : part)));
}
