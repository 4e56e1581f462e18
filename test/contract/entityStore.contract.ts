import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writerStamp, type DedupeFieldOf, type EntitySnapshot, type EntityStore, type EntityWriteResult, type NewEntity } from '../../src/store/entityStore';
import { T0 } from '../support/fixtures';

export type MakeEntityStore = (dedupeFieldOf: DedupeFieldOf) => Promise<{ store: EntityStore; cleanup: () => Promise<void> }>;

/** Contacts and leads de-duplicate on email; products have no de-dup key. */
const dedupeFieldOf: DedupeFieldOf = (type) => (type === 'contact' || type === 'lead' ? 'email' : undefined);

/** A write result with sorted lists: the port promises which ids are in each list, not their order. */
function wrote(written: string[], superseded: string[] = [], missing: string[] = []): EntityWriteResult {
  return { written: [...written].sort(), superseded: [...superseded].sort(), missing: [...missing].sort() };
}

/** `result` with its lists sorted, to compare with `wrote`. */
function sorted(result: EntityWriteResult): EntityWriteResult {
  return wrote(result.written, result.superseded, result.missing);
}

/** The writer stamp of an action created `offsetMs` after T0. */
function stamp(offsetMs: number, actionId: string): string {
  return writerStamp(T0 + offsetMs, actionId);
}

/** The EntityStore port's behaviour, run against every adapter. Uses only the port: the factory is the adapter-specific part. */
export function describeEntityStoreContract(name: string, makeStore: MakeEntityStore): void {
  describe(`EntityStore contract: ${name}`, () => {
    let store: EntityStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore(dedupeFieldOf));
    });
    afterEach(async () => {
      await cleanup();
    });

    /** Snapshots sorted by id: getMany promises no order. */
    async function snapshots(type: string, accountId: string, ids: string[]): Promise<Omit<EntitySnapshot, 'writer'>[]> {
      // The port promises these fields, not a plain object: an adapter may parse `data` lazily.
      return (await store.getMany(type, accountId, ids))
        .map(({ id, accountId, data, createdAt, updatedAt, dedupeKey, keyShared }) => ({ id, accountId, data, createdAt, updatedAt, dedupeKey, keyShared }))
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }

    async function keysOf(ids: string[], type = 'contact', accountId = 'acct-a') {
      return (await snapshots(type, accountId, ids)).map(({ id, dedupeKey, keyShared }) => ({ id, dedupeKey, keyShared }));
    }

    describe('records', () => {
      it('round-trips data and timestamps through insertMany and get', async () => {
        const data = { name: 'Ann', email: 'ann@x.com', score: 3, vip: true, tags: ['a', 'b'], note: null };
        await store.insertMany('contact', 'acct-a', [{ id: 'c1', data }], T0);
        expect(await store.get('contact', 'acct-a', 'c1')).toEqual({ id: 'c1', accountId: 'acct-a', data, createdAt: T0, updatedAt: T0 });
        expect(await store.get('contact', 'acct-a', 'missing')).toBeNull();
      });

      it('replaces the whole record when insertMany sees an existing id', async () => {
        await store.insertMany('contact', 'acct-a', [{ id: 'c1', data: { name: 'Ann', status: 'lead' } }], T0);
        await store.insertMany('contact', 'acct-a', [{ id: 'c1', data: { name: 'Annie' } }], T0 + 5);
        const record = await store.get('contact', 'acct-a', 'c1');
        expect(record?.data).toEqual({ name: 'Annie' });
        expect(record?.updatedAt).toBe(T0 + 5);
        expect(await store.count('contact', 'acct-a')).toBe(1);
      });

      it('returns only the entities that exist from getMany', async () => {
        await store.insertMany('product', 'acct-a', [{ id: 'p1', data: { sku: '1' } }, { id: 'p2', data: { sku: '2' } }], T0);
        expect(await snapshots('product', 'acct-a', ['p2', 'missing', 'p1'])).toEqual([
          { id: 'p1', accountId: 'acct-a', data: { sku: '1' }, createdAt: T0, updatedAt: T0, dedupeKey: null, keyShared: false },
          { id: 'p2', accountId: 'acct-a', data: { sku: '2' }, createdAt: T0, updatedAt: T0, dedupeKey: null, keyShared: false },
        ]);
        expect(await store.getMany('product', 'acct-a', [])).toEqual([]);
      });

      it('reads ids and keys without the documents when asked to, once per repeated id', async () => {
        await store.insertMany('contact', 'acct-a', [{ id: 'k1', data: { email: 'A@x.io' } }, { id: 'k2', data: { email: 'a@x.io' } }], T0);
        const keysOnly = await store.getMany('contact', 'acct-a', ['k1', 'k1', 'k2', 'nope'], { withData: false });
        expect(keysOnly.map(({ id, dedupeKey, keyShared }) => ({ id, dedupeKey, keyShared })).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
          { id: 'k1', dedupeKey: 'a@x.io', keyShared: true },
          { id: 'k2', dedupeKey: 'a@x.io', keyShared: true },
        ]);
        expect(() => keysOnly[0]!.data).toThrow();
      });

      it('treats the same id in another entity type as another entity', async () => {
        await store.insertMany('contact', 'acct-a', [{ id: 'x1', data: { name: 'contact' } }], T0);
        await store.insertMany('lead', 'acct-a', [{ id: 'x1', data: { name: 'lead' } }], T0);
        expect(sorted(await store.updateMany('contact', 'acct-a', ['x1'], { name: 'changed' }, T0 + 1))).toEqual(wrote(['x1']));
        expect((await store.get('contact', 'acct-a', 'x1'))?.data).toEqual({ name: 'changed' });
        expect(await store.get('lead', 'acct-a', 'x1')).toEqual({ id: 'x1', accountId: 'acct-a', data: { name: 'lead' }, createdAt: T0, updatedAt: T0 });
        expect(await store.get('product', 'acct-a', 'x1')).toBeNull();
      });
    });

    describe('account scoping', () => {
      beforeEach(async () => {
        await store.insertMany('contact', 'acct-a', [{ id: 'a1', data: { name: 'A' } }], T0);
        await store.insertMany('contact', 'acct-b', [{ id: 'b1', data: { name: 'B' } }], T0);
      });
      const untouchedB = { id: 'b1', accountId: 'acct-b', data: { name: 'B' }, createdAt: T0, updatedAt: T0 };

      it('never reads another account\'s entity', async () => {
        expect(await store.get('contact', 'acct-a', 'b1')).toBeNull();
        expect((await store.getMany('contact', 'acct-a', ['b1', 'a1'])).map((s) => s.id)).toEqual(['a1']);
        expect(await store.getMany('contact', 'acct-a', ['b1'])).toEqual([]);
      });

      it('never updates another account\'s entity', async () => {
        expect(sorted(await store.updateMany('contact', 'acct-a', ['b1'], { name: 'hijacked' }, T0 + 1, stamp(5, 'x')))).toEqual(wrote([], [], ['b1']));
        expect(sorted(await store.updateMany('contact', 'acct-a', ['a1', 'b1'], { name: 'changed' }, T0 + 1))).toEqual(wrote(['a1'], [], ['b1']));
        expect(await store.get('contact', 'acct-b', 'b1')).toEqual(untouchedB);
        expect((await store.get('contact', 'acct-a', 'a1'))?.data).toEqual({ name: 'changed' });
      });

      it('counts only the account\'s own entities', async () => {
        expect(await store.count('contact', 'acct-a')).toBe(1);
        expect(await store.count('contact', 'acct-c')).toBe(0);
      });
    });

    describe('updates', () => {
      const original = { name: 'Ann', email: 'ann@x.com', status: 'lead', score: 1, tags: ['a', 'b', 'c'] };
      beforeEach(async () => {
        await store.insertMany('contact', 'acct-a', [{ id: 'c1', data: original }, { id: 'c2', data: { ...original, email: 'bo@x.com' } }], T0);
      });

      it('merges the fields into each entity, says which were written and stamps updatedAt', async () => {
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1', 'missing', 'c2'], { status: 'customer', score: 2, region: 'emea' }, T0 + 7))).toEqual(wrote(['c1', 'c2'], [], ['missing']));
        expect(await store.get('contact', 'acct-a', 'c1')).toEqual({
          id: 'c1', accountId: 'acct-a', data: { ...original, status: 'customer', score: 2, region: 'emea' }, createdAt: T0, updatedAt: T0 + 7,
        });
        expect((await store.get('contact', 'acct-a', 'c2'))?.data).toEqual({ ...original, email: 'bo@x.com', status: 'customer', score: 2, region: 'emea' });
        expect(sorted(await store.updateMany('contact', 'acct-a', [], { status: 'x' }, T0 + 8))).toEqual(wrote([]));
      });

      it('updates one entity, touching no other', async () => {
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1', 'c1'], { status: 'customer' }, T0 + 1))).toEqual(wrote(['c1']));
        expect(await store.get('contact', 'acct-a', 'c1')).toMatchObject({ data: { ...original, status: 'customer' }, updatedAt: T0 + 1 });
        expect((await store.get('contact', 'acct-a', 'c2'))?.updatedAt).toBe(T0);
      });

      it('clears a field set to null and keeps the others', async () => {
        await store.updateMany('contact', 'acct-a', ['c1'], { status: null }, T0 + 1);
        const data = (await store.get('contact', 'acct-a', 'c1'))?.data ?? {};
        expect(data.status ?? null).toBeNull();
        const { status: _status, ...rest } = data;
        expect(rest).toEqual({ name: 'Ann', email: 'ann@x.com', score: 1, tags: ['a', 'b', 'c'] });
      });

      it('replaces an array as a whole', async () => {
        await store.updateMany('contact', 'acct-a', ['c1'], { tags: ['d'] }, T0 + 1);
        expect((await store.get('contact', 'acct-a', 'c1'))?.data.tags).toEqual(['d']);
      });
    });

    describe('writer stamps: the action created later wins, per entity', () => {
      const older = stamp(1, 'action-older');
      const newer = stamp(2, 'action-newer');
      beforeEach(async () => {
        await store.insertMany('contact', 'acct-a', ['c1', 'c2', 'c3'].map((id) => ({ id, data: { title: 'seeded', email: `${id}@x.io` } })), T0);
      });
      const titles = async (ids: string[]) => Promise.all(ids.map(async (id) => (await store.get('contact', 'acct-a', id))?.data.title));
      /** The stamps, in the order of `ids` (each must exist), read with and without the documents. */
      const writers = async (ids: string[]) => {
        const [keysOnly, whole] = await Promise.all([false, true].map((withData) => store.getMany('contact', 'acct-a', ids, { withData })));
        expect(whole!.map((s) => [s.id, s.writer])).toEqual(keysOnly!.map((s) => [s.id, s.writer]));
        return ids.map((id) => keysOnly!.find((s) => s.id === id)!.writer);
      };

      it('writes and stamps entities no newer action wrote; leaves a newer action\'s as they are (superseded), in the same call', async () => {
        expect(await writers(['c1', 'c2', 'c3'])).toEqual([null, null, null]);
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1', 'c2'], { title: 'newer' }, T0 + 10, newer))).toEqual(wrote(['c1', 'c2']));
        expect(await writers(['c1', 'c2', 'c3'])).toEqual([newer, newer, null]);

        const result = await store.updateMany('contact', 'acct-a', ['c1', 'c2', 'c3', 'missing', 'c3'], { title: 'older' }, T0 + 20, older);
        expect(sorted(result)).toEqual(wrote(['c3'], ['c1', 'c2'], ['missing']));
        expect(await titles(['c1', 'c2', 'c3'])).toEqual(['newer', 'newer', 'older']);
        expect(await writers(['c1', 'c2', 'c3'])).toEqual([newer, newer, older]);
        expect((await store.get('contact', 'acct-a', 'c1'))?.updatedAt).toBe(T0 + 10);
      });

      it('lets an action rewrite what it wrote itself (a redelivery), and breaks a tie in time the same way every time', async () => {
        // Created in the same millisecond: the stamps still differ, and one of them is the later.
        const [a, b] = [stamp(5, 'action-a'), stamp(5, 'action-b')].sort();
        expect(a).not.toBe(b);
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1'], { title: 'a1' }, T0 + 10, a))).toEqual(wrote(['c1']));
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1'], { title: 'a2' }, T0 + 11, a))).toEqual(wrote(['c1']));
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1'], { title: 'b' }, T0 + 12, b))).toEqual(wrote(['c1']));
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1'], { title: 'a3' }, T0 + 13, a))).toEqual(wrote([], ['c1']));
        expect(await titles(['c1'])).toEqual(['b']);
      });

      it('compares creation times as numbers, however many digits they have', async () => {
        for (const [earlier, later] of [[9_999, 10_000], [255, 256], [T0, T0 + 1]]) {
          expect(writerStamp(earlier!, 'z') < writerStamp(later!, 'a')).toBe(true);
        }
        await store.updateMany('contact', 'acct-a', ['c1'], { title: 'later' }, T0, writerStamp(10_000, 'z'));
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1'], { title: 'earlier' }, T0, writerStamp(9_999, 'zz')))).toEqual(wrote([], ['c1']));
        expect(await titles(['c1'])).toEqual(['later']);
      });

      it('keeps the de-dup key of a superseded entity as it was', async () => {
        await store.updateMany('contact', 'acct-a', ['c2'], { title: 'newer' }, T0 + 1, newer);
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1', 'c2'], { email: 'Same@x.io' }, T0 + 2, older))).toEqual(wrote(['c1'], ['c2']));
        expect((await snapshots('contact', 'acct-a', ['c1', 'c2'])).map((s) => s.dedupeKey)).toEqual(['same@x.io', 'c2@x.io']);
      });

      it('writes unconditionally without a stamp, keeping the stamp there is', async () => {
        await store.updateMany('contact', 'acct-a', ['c1'], { title: 'newer' }, T0 + 1, newer);
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1', 'c2'], { title: 'tool' }, T0 + 2))).toEqual(wrote(['c1', 'c2']));
        expect(await titles(['c1', 'c2'])).toEqual(['tool', 'tool']);
        expect(await writers(['c1', 'c2'])).toEqual([newer, null]);
      });

      it('never shows the stamp as data, and forgets it when seeding replaces the entity', async () => {
        await store.updateMany('contact', 'acct-a', ['c1'], { title: 'newer' }, T0 + 1, newer);
        expect(await store.get('contact', 'acct-a', 'c1')).toEqual({
          id: 'c1', accountId: 'acct-a', data: { title: 'newer', email: 'c1@x.io' }, createdAt: T0, updatedAt: T0 + 1,
        });
        await store.insertMany('contact', 'acct-a', [{ id: 'c1', data: { title: 'reseeded' } }], T0 + 2);
        expect(await writers(['c1'])).toEqual([null]);
        expect(sorted(await store.updateMany('contact', 'acct-a', ['c1'], { title: 'older' }, T0 + 3, older))).toEqual(wrote(['c1']));
      });
    });

    describe('de-dup keys', () => {
      const contact = (id: string, email?: unknown): NewEntity => ({ id, data: email === undefined ? { name: id } : { name: id, email } });

      it('normalises the key and marks it shared only within the same type and account', async () => {
        await store.insertMany('contact', 'acct-a', [
          contact('c1', '  Ann@Example.COM '), contact('c2', 'ann@example.com'), contact('c3', 'bob@example.com'),
        ], T0);
        await store.insertMany('contact', 'acct-b', [contact('b1', 'bob@example.com')], T0);
        await store.insertMany('lead', 'acct-a', [contact('l1', 'bob@example.com')], T0);
        expect(await keysOf(['c1', 'c2', 'c3'])).toEqual([
          { id: 'c1', dedupeKey: 'ann@example.com', keyShared: true },
          { id: 'c2', dedupeKey: 'ann@example.com', keyShared: true },
          { id: 'c3', dedupeKey: 'bob@example.com', keyShared: false },
        ]);
        expect((await store.getMany('contact', 'acct-a', ['c1']))[0]?.data).toEqual({ name: 'c1', email: '  Ann@Example.COM ' });
      });

      it('has no key for a missing, blank or non-string key field', async () => {
        await store.insertMany('contact', 'acct-a', [contact('c1'), contact('c2'), contact('c3', '   '), contact('c4', '   '), contact('c5', 42)], T0);
        expect(await keysOf(['c1', 'c2', 'c3', 'c4', 'c5'])).toEqual(
          ['c1', 'c2', 'c3', 'c4', 'c5'].map((id) => ({ id, dedupeKey: null, keyShared: false })),
        );
      });

      it('has no key for a type without a de-dup field', async () => {
        await store.insertMany('product', 'acct-a', [contact('p1', 'same@x.com'), contact('p2', 'same@x.com')], T0);
        expect(await keysOf(['p1', 'p2'], 'product')).toEqual([
          { id: 'p1', dedupeKey: null, keyShared: false },
          { id: 'p2', dedupeKey: null, keyShared: false },
        ]);
      });

      it('follows updates of the key field', async () => {
        await store.insertMany('contact', 'acct-a', [contact('c1', 'ann@x.com'), contact('c2', 'bob@x.com'), contact('c3', 'cy@x.com')], T0);
        expect((await store.updateMany('contact', 'acct-a', ['c2'], { email: ' ANN@x.com' }, T0 + 1)).written).toEqual(['c2']);
        await store.updateMany('contact', 'acct-a', ['c1', 'c2', 'c3'], { name: 'renamed' }, T0 + 2);
        expect(await keysOf(['c1', 'c2', 'c3'])).toEqual([
          { id: 'c1', dedupeKey: 'ann@x.com', keyShared: true },
          { id: 'c2', dedupeKey: 'ann@x.com', keyShared: true },
          { id: 'c3', dedupeKey: 'cy@x.com', keyShared: false },
        ]);

        await store.updateMany('contact', 'acct-a', ['c1'], { email: null }, T0 + 3);
        expect(await keysOf(['c1', 'c2'])).toEqual([
          { id: 'c1', dedupeKey: null, keyShared: false },
          { id: 'c2', dedupeKey: 'ann@x.com', keyShared: false },
        ]);
      });

      it('follows a record replaced by insertMany', async () => {
        await store.insertMany('contact', 'acct-a', [contact('c1', 'ann@x.com'), contact('c2', 'ann@x.com')], T0);
        expect((await keysOf(['c1'])).map((k) => k.keyShared)).toEqual([true]);
        await store.insertMany('contact', 'acct-a', [contact('c2', 'bob@x.com')], T0 + 1);
        expect(await keysOf(['c1', 'c2'])).toEqual([
          { id: 'c1', dedupeKey: 'ann@x.com', keyShared: false },
          { id: 'c2', dedupeKey: 'bob@x.com', keyShared: false },
        ]);
        await store.insertMany('contact', 'acct-a', [contact('c3', 'BOB@x.com')], T0 + 2);
        expect((await keysOf(['c2', 'c3'])).map((k) => k.keyShared)).toEqual([true, true]);
      });
    });

    describe('counting', () => {
      it('counts per type and account', async () => {
        const ids = ['id-03', 'id-01', 'id-05', 'id-02', 'id-04'];
        await store.insertMany('lead', 'acct-a', ids.map((id) => ({ id, data: {} })), T0);
        expect(await store.count('lead', 'acct-a')).toBe(5);
        expect(await store.count('contact', 'acct-a')).toBe(0);
      });
    });
  });
}
