import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchConsumer, BatchQueue, QueueDepth, QueueRetry, StopOptions, Subscription } from '../../src/queue/batchQueue';
import type { BatchMessage } from '../../src/types/entities';
import { makeBatch } from '../support/fixtures';
import { letOtherWorkRun, waitFor } from '../support/waitFor';

/** Builds a fresh, empty queue (its own table or broker queue) that spaces retries with `retry`. */
export type MakeBatchQueue = (retry: QueueRetry) => Promise<{ queue: BatchQueue; cleanup: () => Promise<void> }>;

/** Retries in the contract wait this long (ms): long enough to tell "after the backoff" from "at once". */
const BACKOFF_MS = 300;

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

    let backoffAsked: number[];

    beforeEach(async () => {
      backoffAsked = [];
      ({ queue, cleanup } = await makeQueue({
        backoffMs: (attempt) => {
          backoffAsked.push(attempt);
          return BACKOFF_MS;
        },
      }));
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

    function stop(subscription: Subscription, options?: StopOptions): Promise<void> {
      subscriptions = subscriptions.filter((s) => s !== subscription);
      return subscription.stop(options);
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
        return 'ack';
      };
      return { state, consumer };
    }

    /** Depth without the count a backend may not report (null unacked). */
    const depth = async (): Promise<QueueDepth> => queue.depth();
    const waiting = async () => {
      const d = await depth();
      return d.ready + (d.unacked ?? 0) + d.delayed;
    };
    const isEmpty = async () => (await waiting()) === 0;

    it('delivers every batch exactly once, as delivery 1, to a consumer that resolves', async () => {
      const batches = [
        makeBatch('action-a', 0), makeBatch('action-a', 1), makeBatch('action-a', 2),
        makeBatch('action-b', 0, { accountId: 'acct-b', entityType: 'lead', fieldsToUpdate: { score: 10 } }), makeBatch('action-b', 1),
      ];
      await queue.publish(batches);
      const received: { batch: BatchMessage; attempt: number }[] = [];
      const subscription = await consume(async (batch, delivery) => {
        received.push({ batch, attempt: delivery.attempt });
        return 'ack';
      }, 2);
      await waitFor(async () => received.length >= batches.length && (await isEmpty()), 10_000, 'every batch acknowledged');
      await stop(subscription);
      expect(received.map((r) => r.batch).sort(byActionAndNo)).toEqual([...batches].sort(byActionAndNo));
      expect(received.map((r) => r.attempt)).toEqual([1, 1, 1, 1, 1]);
      expect(await depth()).toMatchObject({ ready: 0, delayed: 0, deadLettered: 0 });
    });

    it('round-trips a batch of repeated IDs with its firstSeqs', async () => {
      const batch = makeBatch('action-a', 4, { entityIds: ['e-1', 'e-1'], seqs: [7, 9], firstSeqs: [1, 1] });
      await queue.publish([batch]);
      const received: BatchMessage[] = [];
      const subscription = await consume(async (b) => {
        received.push(b);
        return 'ack';
      }, 1);
      await waitFor(async () => received.length >= 1 && (await isEmpty()), 10_000, 'the batch acknowledged');
      await stop(subscription);
      expect(received).toEqual([batch]);
    });

    it('delivers a batch again after its consumer threw, as attempt 2 then 3, each after the backoff', async () => {
      const batch = makeBatch('action-a', 0);
      await queue.publish([batch]);
      const received: { batch: BatchMessage; attempt: number; at: number }[] = [];
      const subscription = await consume(async (b, delivery) => {
        received.push({ batch: b, attempt: delivery.attempt, at: Date.now() });
        if (received.length < 3) throw new Error('transient failure');
        return 'ack';
      }, 1);
      await waitFor(async () => received.length >= 3 && (await isEmpty()), 10_000, 'the batch delivered three times and acknowledged');
      await letOtherWorkRun();
      await stop(subscription);
      expect(received.map((r) => [r.batch, r.attempt])).toEqual([[batch, 1], [batch, 2], [batch, 3]]);
      expect(backoffAsked).toEqual([1, 2]);
      // Never a hot requeue loop: each retry waited out its backoff (a little slack for clock granularity).
      expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(BACKOFF_MS - 20);
      expect(received[2]!.at - received[1]!.at).toBeGreaterThanOrEqual(BACKOFF_MS - 20);
    });

    it('counts a batch waiting out its backoff as delayed', async () => {
      await queue.publish([makeBatch('action-a', 0)]);
      let calls = 0;
      const subscription = await consume(async () => {
        calls++;
        if (calls === 1) throw new Error('transient failure');
        return 'ack';
      }, 1);
      await waitFor(async () => (await depth()).delayed === 1 || calls >= 2, 5_000, 'the batch in its backoff');
      if (calls === 1) expect(await depth()).toMatchObject({ ready: 0, delayed: 1, deadLettered: 0 });
      await waitFor(async () => calls >= 2 && (await isEmpty()), 10_000, 'the batch retried and acknowledged');
      await stop(subscription);
    });

    it('keeps a dead-lettered batch out of the queue and counts it', async () => {
      await queue.publish([makeBatch('action-a', 0), makeBatch('action-a', 1)]);
      const received: number[] = [];
      const subscription = await consume(async (b) => {
        received.push(b.batchNo);
        return b.batchNo === 0 ? 'dead-letter' : 'ack';
      }, 1);
      await waitFor(async () => (await depth()).deadLettered === 1 && (await isEmpty()), 10_000, 'one batch dead-lettered, one acknowledged');
      await letOtherWorkRun();
      await stop(subscription);
      expect(received.sort()).toEqual([0, 1]);
      expect(await depth()).toMatchObject({ ready: 0, delayed: 0, deadLettered: 1 });
    });

    it('keeps at most `concurrency` consumer calls in flight', async () => {
      const total = 7;
      const concurrency = 3;
      await queue.publish(Array.from({ length: total }, (_, i) => makeBatch('action-a', i)));
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
      await waitFor(isEmpty, 10_000, 'every batch acknowledged');
      await stop(subscription);
      expect(state.maxInFlight).toBe(concurrency);
      expect(state.received.map((b) => b.batchNo).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    });

    it('stops after the batches in flight finish, and delivers nothing more', async () => {
      await queue.publish([makeBatch('action-a', 0), makeBatch('action-a', 1)]);
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
      expect(await waiting()).toBe(0);

      const late = makeBatch('action-a', 2);
      await queue.publish([late]);
      await letOtherWorkRun();
      expect(state.received.length).toBe(2);
      expect(await waiting()).toBe(1);

      // The late batch is still there for the next consumer, so the stopped one never took it.
      const received: BatchMessage[] = [];
      const next = await consume(async (batch) => {
        received.push(batch);
        return 'ack';
      }, 1);
      await waitFor(async () => received.length >= 1 && (await isEmpty()), 10_000, 'the late batch acknowledged');
      await stop(next);
      expect(received).toEqual([late]);
      expect(state.received.length).toBe(2);
    });

    it('stops by its timeout while a consumer hangs, delivers that batch again, and ignores the abandoned call', async () => {
      const batch = makeBatch('action-a', 0);
      await queue.publish([batch]);
      const { state, consumer } = holdingConsumer();
      const subscription = await consume(consumer, 1);
      await waitFor(() => state.held.length === 1, 5_000, 'the batch in flight');

      let stopped = false;
      const stopping = stop(subscription, { timeoutMs: 100 }).then(() => {
        stopped = true;
      });
      await waitFor(() => stopped, 5_000, 'stop resolving while its consumer still hangs');
      await stopping;
      state.held[0]!.open(); // the abandoned call answers 'ack' late: it must not settle the batch

      const received: { batch: BatchMessage; attempt: number }[] = [];
      const next = await consume(async (b, delivery) => {
        received.push({ batch: b, attempt: delivery.attempt });
        return 'ack';
      }, 1);
      await waitFor(async () => received.length >= 1 && (await isEmpty()), 10_000, 'the handed-back batch delivered again and acknowledged');
      await letOtherWorkRun();
      await stop(next);
      // The interrupted delivery counted as an attempt, like a crash.
      expect(received).toEqual([{ batch, attempt: 2 }]);
      expect(await depth()).toMatchObject({ ready: 0, delayed: 0, deadLettered: 0 });
    });

    it('counts ready and in-flight batches in depth until they are acknowledged', async () => {
      expect(await depth()).toMatchObject({ ready: 0, delayed: 0, deadLettered: 0 });
      await queue.publish([]);
      expect(await waiting()).toBe(0);
      await queue.publish([0, 1, 2].map((i) => makeBatch('action-a', i)));
      await waitFor(async () => (await depth()).ready === 3, 5_000, 'three batches ready');

      const { state, consumer } = holdingConsumer();
      const subscription = await consume(consumer, 1);
      for (let i = 0; i < 3; i++) {
        await waitFor(() => state.held.length === i + 1, 5_000, `delivery ${i + 1}`);
        await waitFor(async () => (await depth()).ready === 2 - i, 5_000, `${2 - i} batches ready`);
        const { unacked } = await depth();
        if (unacked !== null) await waitFor(async () => (await depth()).unacked === 1, 10_000, 'one batch unacked');
        state.held[i]?.open();
      }
      await waitFor(isEmpty, 10_000, 'every batch acknowledged');
      await stop(subscription);
      expect(await depth()).toMatchObject({ ready: 0, delayed: 0, deadLettered: 0 });
    });
  });
}
