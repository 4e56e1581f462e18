import { describe, expect, it } from 'vitest';
import { outcomeMessage } from '../../src/outcomeMessages';

const row = { entityType: 'contact', entityId: 'c-7', accountId: 'acme', dedupeKey: 'email' };

describe('outcomeMessage: the message of a stored code and its params', () => {
  it.each<[string, string | null, Record<string, string | number> | null, string | null]>([
    ['a success', null, null, null],
    ['NOT_FOUND, from the row alone', 'NOT_FOUND', null, 'no contact c-7 in account acme'],
    ['DUPLICATE_ID, with the first position', 'DUPLICATE_ID', { firstSeq: 3 }, 'entity ID repeats the one at position 3'],
    ['a de-dup key, named by the type', 'DUPLICATE_EMAIL', { ownerId: 'c-1' }, 'same email as c-1, which holds it in this action'],
    ['SUPERSEDED by a known action', 'SUPERSEDED', { newerActionId: 'a-9' }, 'contact c-7 was written by a newer action (a-9); the later action wins'],
    ['SUPERSEDED by an unknown one', 'SUPERSEDED', null, 'contact c-7 was written by a newer action; the later action wins'],
    ["a handler's own words", 'VALIDATION_FAILED', { detail: 'contact c-7 is churned' }, 'contact c-7 is churned'],
    ['a handler code with words', 'CREDIT_HOLD', { detail: 'account on hold' }, 'account on hold'],
    ['a handler code without', 'CREDIT_HOLD', null, null],
  ])('%s', (_label, code, params, message) => {
    expect(outcomeMessage(code, params, row)).toBe(message);
  });

  it('says "key" for a de-dup code whose type no longer names its field', () => {
    expect(outcomeMessage('DUPLICATE_EMAIL', { ownerId: 'c-1' }, { ...row, dedupeKey: undefined })).toBe('same key as c-1, which holds it in this action');
  });
});
