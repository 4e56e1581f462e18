import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { payloadHash, planBatches, splitIntoBatches } from '../../src/actions/planBatches';

describe('planBatches', () => {
  it('keeps first occurrences at their request positions and sends later ones to repeats', () => {
    const plan = planBatches(['a', 'b', 'a', 'c', 'b', 'a']);
    expect(plan.unique).toEqual({ ids: ['a', 'b', 'c'], seqs: [0, 1, 3] });
    expect(plan.repeats).toEqual([
      { seq: 2, entityId: 'a', firstSeq: 0 },
      { seq: 4, entityId: 'b', firstSeq: 1 },
      { seq: 5, entityId: 'a', firstSeq: 0 },
    ]);
  });

  it('has no repeats when every ID is distinct', () => {
    const plan = planBatches(['x', 'y']);
    expect(plan.unique).toEqual({ ids: ['x', 'y'], seqs: [0, 1] });
    expect(plan.repeats).toEqual([]);
  });

  it('handles an ID named like an Object.prototype member', () => {
    const plan = planBatches(['__proto__', 'constructor', '__proto__']);
    expect(plan.unique.ids).toEqual(['__proto__', 'constructor']);
    expect(plan.repeats).toEqual([{ seq: 2, entityId: '__proto__', firstSeq: 0 }]);
  });
});

describe('splitIntoBatches', () => {
  const context = (fieldsToUpdate: Record<string, string | number> = { status: 'customer' }) => ({
    actionId: 'act-1', accountId: 'acct-1', entityType: 'contact', fieldsToUpdate,
  });

  it('splits 2500 IDs into batches of 1000, 1000 and 500 numbered from 0', () => {
    const ids = Array.from({ length: 2500 }, (_, i) => `id-${i}`);
    const fields = { status: 'customer' };
    const batches = splitIntoBatches(context(fields), planBatches(ids), 1000);
    expect(batches.map((b) => b.entityIds.length)).toEqual([1000, 1000, 500]);
    expect(batches.map((b) => b.batchNo)).toEqual([0, 1, 2]);
    const last = batches[2];
    expect(last?.entityIds[0]).toBe('id-2000');
    expect(last?.seqs[0]).toBe(2000);
    expect(last?.seqs.at(-1)).toBe(2499);
    expect(last).toEqual({ ...context(fields), batchNo: 2, entityIds: ids.slice(2000), seqs: Array.from({ length: 500 }, (_, i) => 2000 + i) });
  });

  it('puts the repeats in batches of their own after the first occurrences, with where each first appeared', () => {
    const batches = splitIntoBatches(context({ score: 1 }), planBatches(['a', 'a', 'b', 'c', 'a', 'b']), 2);
    expect(batches.map((b) => [b.batchNo, b.entityIds, b.seqs, b.firstSeqs])).toEqual([
      [0, ['a', 'b'], [0, 2], undefined],
      [1, ['c'], [3], undefined],
      [2, ['a', 'a'], [1, 4], [0, 0]],
      [3, ['b'], [5], [2]],
    ]);
  });

  it('covers every position exactly once', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `id-${i % 37}`);
    const seqs = splitIntoBatches(context(), planBatches(ids), 64).flatMap((b) => b.seqs);
    expect(seqs.sort((x, y) => x - y)).toEqual(ids.map((_, i) => i));
  });

  it('rejects a batch size below 1', () => {
    expect(() => splitIntoBatches(context(), planBatches(['a']), 0)).toThrow(RangeError);
  });
});

describe('payloadHash', () => {
  const ids = ['c1', 'c2', 'c3'];

  it('is a sha256 hex digest', () => {
    expect(payloadHash('acct', 'contact', ids, { status: 'lead' })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('does not depend on the key order of fieldsToUpdate', () => {
    const a = payloadHash('acct', 'contact', ids, { status: 'lead', title: 'CTO', tags: ['x'] });
    const b = payloadHash('acct', 'contact', ids, { tags: ['x'], title: 'CTO', status: 'lead' });
    expect(a).toBe(b);
  });

  it('differs when the IDs come in a different order', () => {
    expect(payloadHash('acct', 'contact', ['c1', 'c2'], { status: 'lead' })).not.toBe(payloadHash('acct', 'contact', ['c2', 'c1'], { status: 'lead' }));
  });

  it('differs for each part of the payload', () => {
    const base = payloadHash('acct', 'contact', ids, { status: 'lead' });
    const variants = [
      payloadHash('acct2', 'contact', ids, { status: 'lead' }),
      payloadHash('acct', 'lead', ids, { status: 'lead' }),
      payloadHash('acct', 'contact', ['c1', 'c2'], { status: 'lead' }),
      payloadHash('acct', 'contact', ids, { status: 'customer' }),
      payloadHash('acct', 'contact', ids, { status: null }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });

  it('cannot be fooled by IDs that contain the separator', () => {
    expect(payloadHash('acct', 'contact', ['a\nb'], { x: 1 })).not.toBe(payloadHash('acct', 'contact', ['a', 'b'], { x: 1 }));
    expect(payloadHash('acct', 'contact', ['1:a'], { x: 1 })).not.toBe(payloadHash('acct', 'contact', ['1', 'a'], { x: 1 }));
  });

  it('hashes IDs across chunk boundaries the same as one piece', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `id-${i}`);
    const header = JSON.stringify(['bulk-action/v1', 'acct', 'contact', [['x', 1]], many.length]);
    const expected = createHash('sha256')
      .update(`${header}\n${many.map((id) => `${id.length}:${id}\n`).join('')}`)
      .digest('hex');
    expect(payloadHash('acct', 'contact', many, { x: 1 })).toBe(expected);
  });
});
