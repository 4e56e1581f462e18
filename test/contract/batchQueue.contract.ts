import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchConsumer, BatchQueue, Subscription } from '../../src/queue/batchQueue';
import type { BatchMessage } from '../../src/types/entities';
import { makeBatch } from '../support/fixtures';
import { letOtherWorkRun, waitFor } from '../support/waitFor';

export type MakeBatchQueue = () => Promise<{ queue: BatchQueue; cleanup: () => Promise<void> }>;

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function byActionAndNo(a: BatchMessage, b: BatchMessage): number {
  return a.actionId.localeCompare(b.actionId) || a.batchNo - b.batchNo;
}

/** The BatchQueue port's behaviour, run against every adapter. Uses only the port: the factory is the adapter-specific part. */
export function describeBatchQueueContract(name: string, makeQueue: MakeBatchQueue): void {
  describe(`BatchQueue contract: ${name}`, () => {
    let queue: BatchQueue;
    let cleanup: () => Promise<void>;
    let subscriptions: Subscription[];
    let gates: Gate[];

    beforeEach(async () => {
      ({ queue, cleanup } = await makeQueue());
      subscriptions = [];
      gates = [];
    });
    // A failed test may leave consumers blocked: open every gate so stop() can drain them, and leak no consumer.
    afterEach(async () => {
      for (const gate of gates) gate.open();
      for (const subscription of subscriptions) await subscription.stop();
      await cleanup();
    });

    async function consume(consumer: BatchConsumer, concurrency: number): Promise<Subscription> {
      const subscription = await queue.consume(consumer, { concurrency });
      subscriptions.push(subscription);
      return subscription;
    }

    function stop(subscription: Subscription): Promise<void> {
      subscriptions = subscriptions.filter((s) => s !== subscription);
      return subscription.stop();
    }

    /** A promise the test opens when it chooses: holds a consumer call in flight. */
    function gate(): Gate {
      let open = () => {};
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      const g = { promise, open };
      gates.push(g);
      return g;
    }

    /** A consumer that holds every batch until the test opens its gate (in `held`, in delivery order). */
    function holdingConsumer() {
      const state = { held: [] as Gate[], received: [] as BatchMessage[], inFlight: 0, maxInFlight: 0 };
      const consumer: BatchConsumer = async (batch) => {
        state.received.push(batch);
        state.inFlight++;
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
        const g = gate();
        state.held.push(g);
        try {
          await g.promise;
        } finally {
          state.inFlight--;
        }
      };
      return { state, consumer };
    }

    const isEmpty = async () => (await queue.depth()) === 0;

    it('delivers every batch exactly once, as delivery 1, to a consumer that resolves', async () => {
      const batches = [
        makeBatch('action-a', 0), makeBatch('action-a', 1), makeBatch('action-a', 2),
        makeBatch('action-b', 0, { accountId: 'acct-b', entityType: 'lead', fieldsToUpdate: { score: 10 } }), makeBatch('action-b', 1),
      ];
      await queue.enqueue(batches);
      const received: { batch: BatchMessage; deliveryCount: number }[] = [];
      const subscription = await consume(async (batch, delivery) => {
        received.push({ batch, deliveryCount: delivery.deliveryCount });
      }, 2);
      await waitFor(async () => received.length >= batches.length && (await isEmpty()), 5_000, 'every batch acknowledged');
      await stop(subscription);
      expect(received.map((r) => r.batch).sort(byActionAndNo)).toEqual([...batches].sort(byActionAndNo));
      expect(received.map((r) => r.deliveryCount)).toEqual([1, 1, 1, 1, 1]);
    });

    it('delivers a batch again, as delivery 2, after its consumer rejected it', async () => {
      const batch = makeBatch('action-a', 0);
      await queue.enqueue([batch]);
      const received: { batch: BatchMessage; deliveryCount: number }[] = [];
      const subscription = await consume(async (b, delivery) => {
        received.push({ batch: b, deliveryCount: delivery.deliveryCount });
        if (received.length === 1) throw new Error('transient failure');
      }, 1);
      await waitFor(async () => received.length >= 2 && (await isEmpty()), 5_000, 'the batch redelivered and acknowledged');
      await stop(subscription);
      expect(received).toEqual([{ batch, deliveryCount: 1 }, { batch, deliveryCount: 2 }]);
    });

    it('keeps at most `concurrency` consumer calls in flight', async () => {
      const total = 7;
      const concurrency = 3;
      await queue.enqueue(Array.from({ length: total }, (_, i) => makeBatch('action-a', i)));
      const { state, consumer } = holdingConsumer();
      const subscription = await consume(consumer, concurrency);
      for (let released = 0; released < total;) {
        const expected = Math.min(concurrency, total - released);
        await waitFor(() => state.held.length === expected, 5_000, `${expected} consumer calls in flight`);
        await letOtherWorkRun(); // room for one call too many, if the adapter would make it
        expect(state.inFlight).toBe(expected);
        for (const g of state.held.splice(0)) g.open();
        released += expected;
      }
      await waitFor(isEmpty, 5_000, 'every batch acknowledged');
      await stop(subscription);
      expect(state.maxInFlight).toBe(concurrency);
      expect(state.received.map((b) => b.batchNo).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    });

    it('stops after the batches in flight finish, and delivers nothing more', async () => {
      await queue.enqueue([makeBatch('action-a', 0), makeBatch('action-a', 1)]);
      const { state, consumer } = holdingConsumer();
      const subscription = await consume(consumer, 2);
      await waitFor(() => state.held.length === 2, 5_000, 'both batches in flight');

      let stopped = false;
      const stopping = stop(subscription).then(() => {
        stopped = true;
      });
      await letOtherWorkRun();
      expect(stopped).toBe(false);
      for (const g of state.held) g.open();
      await stopping;
      expect(await queue.depth()).toBe(0);

      const late = makeBatch('action-a', 2);
      await queue.enqueue([late]);
      await letOtherWorkRun();
      expect(state.received.length).toBe(2);
      expect(await queue.depth()).toBe(1);

      // The late batch is still there for the next consumer, so the stopped one never took it.
      const received: BatchMessage[] = [];
      const next = await consume(async (batch) => {
        received.push(batch);
      }, 1);
      await waitFor(async () => received.length >= 1 && (await isEmpty()), 5_000, 'the late batch acknowledged');
      await stop(next);
      expect(received).toEqual([late]);
      expect(state.received.length).toBe(2);
    });

    it('purges the waiting batches of one action only', async () => {
      const ofA = [0, 1, 2].map((i) => makeBatch('action-a', i));
      const ofB = [0, 1].map((i) => makeBatch('action-b', i));
      await queue.enqueue([...ofA, ...ofB]);
      expect(await queue.depth()).toBe(5);
      expect(await queue.purge('action-a')).toBe(3);
      expect(await queue.depth()).toBe(2);
      expect(await queue.purge('action-a')).toBe(0);
      expect(await queue.purge('action-unknown')).toBe(0);

      const received: BatchMessage[] = [];
      const subscription = await consume(async (batch) => {
        received.push(batch);
      }, 2);
      await waitFor(async () => received.length >= 2 && (await isEmpty()), 5_000, 'the other action\'s batches acknowledged');
      await stop(subscription);
      expect(received.sort(byActionAndNo)).toEqual(ofB);
    });

    it('purges only the waiting batches, not one in flight', async () => {
      await queue.enqueue([0, 1, 2].map((i) => makeBatch('action-a', i)));
      const { state, consumer } = holdingConsumer();
      const subscription = await consume(consumer, 1);
      await waitFor(() => state.held.length === 1, 5_000, 'one batch in flight');
      expect(await queue.purge('action-a')).toBe(2);
      expect(await queue.depth()).toBe(1);
      state.held[0]?.open();
      await waitFor(isEmpty, 5_000, 'the batch in flight acknowledged');
      await letOtherWorkRun();
      await stop(subscription);
      expect(state.received.length).toBe(1);
    });

    it('counts waiting and in-flight batches in depth until they are acknowledged', async () => {
      expect(await queue.depth()).toBe(0);
      await queue.enqueue([]);
      expect(await queue.depth()).toBe(0);
      await queue.enqueue([0, 1, 2].map((i) => makeBatch('action-a', i)));
      expect(await queue.depth()).toBe(3);

      const { state, consumer } = holdingConsumer();
      const subscription = await consume(consumer, 1);
      for (let i = 0; i < 3; i++) {
        await waitFor(() => state.held.length === i + 1, 5_000, `delivery ${i + 1}`);
        expect(await queue.depth()).toBe(3 - i);
        state.held[i]?.open();
      }
      await waitFor(isEmpty, 5_000, 'every batch acknowledged');
      await stop(subscription);
      expect(await queue.depth()).toBe(0);
    });
  });
}
