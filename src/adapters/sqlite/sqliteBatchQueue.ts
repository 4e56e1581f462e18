import type { Statement } from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { toError } from '../../errors';
import type { BatchConsumer, BatchQueue, ConsumeOptions, Subscription } from '../../queue/batchQueue';
import type { BatchMessage } from '../../types/entities';
import type { SqliteDatabase } from './database';

export interface SqliteQueueOptions {
  /** How long a claimed batch stays hidden; a consumer that dies lets it reappear after this. A live consumer renews it. */
  leaseMs?: number;
  /** How often an idle consumer looks for work that another process enqueued. */
  pollMs?: number;
  /** How long a batch given back by its consumer (or a failed claim) waits before it is tried again. */
  retryDelayMs?: number;
}

interface ClaimedRow {
  id: number;
  payload: string;
  deliveries: number;
}

/**
 * A durable at-least-once queue in the platform's SQLite file. Claiming a batch takes a lease;
 * acknowledging deletes it. Consumers in this process are woken on enqueue; others poll.
 */
export class SqliteBatchQueue implements BatchQueue {
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly retryDelayMs: number;
  private readonly wakers = new Set<() => void>();
  private readonly s: Record<'insert' | 'claim' | 'renew' | 'ack' | 'release' | 'purge' | 'depth', Statement>;

  constructor(
    private readonly db: SqliteDatabase,
    options: SqliteQueueOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 60_000;
    this.pollMs = options.pollMs ?? 250;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.s = {
      insert: db.prepare('INSERT INTO queue_batches (action_id, payload) VALUES (?, ?)'),
      claim: db.prepare(`UPDATE queue_batches SET leased_until = ?, deliveries = deliveries + 1
        WHERE id = (SELECT id FROM queue_batches WHERE leased_until <= ? ORDER BY leased_until, id LIMIT 1)
        RETURNING id, payload, deliveries`),
      renew: db.prepare('UPDATE queue_batches SET leased_until = ? WHERE id = ?'),
      ack: db.prepare('DELETE FROM queue_batches WHERE id = ?'),
      release: db.prepare('UPDATE queue_batches SET leased_until = ? WHERE id = ?'),
      purge: db.prepare('DELETE FROM queue_batches WHERE action_id = ? AND leased_until <= ?'),
      depth: db.prepare('SELECT count(*) AS n FROM queue_batches'),
    };
  }

  /**
   * Makes every leased batch available again. Only safe when no other process consumes this file,
   * which is the embedded mode's rule: one process owns a data dir.
   */
  releaseAllLeases(): number {
    return this.db.writeLocked(() => this.db.prepare('UPDATE queue_batches SET leased_until = 0 WHERE leased_until > 0').run().changes);
  }

  async enqueue(batches: BatchMessage[]): Promise<void> {
    this.db.writeTransaction(() => {
      for (const b of batches) this.s.insert.run(b.actionId, JSON.stringify(b));
    });
    for (const wake of this.wakers) wake();
  }

  async consume(consumer: BatchConsumer, options: ConsumeOptions): Promise<Subscription> {
    const report = (error: unknown) => options.onError?.(toError(error));
    let stopping = false;
    const idle = new Set<() => void>();
    const waker = () => {
      for (const resolve of idle) resolve();
      idle.clear();
    };
    this.wakers.add(waker);

    /** Waits for an enqueue in this process, or `ms`, whichever comes first. */
    const idleFor = async (ms: number) => {
      const ac = new AbortController();
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => idle.add((wake = resolve)));
      await Promise.race([woken, sleep(ms, undefined, { signal: ac.signal }).catch(() => {})]);
      ac.abort(); // no timer outlives the wait
      idle.delete(wake);
    };

    const loop = async (): Promise<void> => {
      while (!stopping) {
        let claimed: ClaimedRow | undefined;
        try {
          claimed = this.claim();
        } catch (error) {
          report(error); // the file is locked by another process past busy_timeout, say
          await idleFor(this.retryDelayMs);
          continue;
        }
        if (!claimed) {
          await idleFor(this.pollMs);
          continue;
        }
        await this.deliver(claimed, consumer, report);

        // better-sqlite3 is synchronous: yield to the event loop so HTTP requests are answered between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };

    const loops = Array.from({ length: options.concurrency }, loop);
    return {
      stop: async () => {
        stopping = true;
        this.wakers.delete(waker);
        waker();
        await Promise.all(loops);
      },
    };
  }

  /** Runs the consumer on one claimed batch; acks on success, gives it back (after a pause) otherwise. */
  private async deliver(claimed: ClaimedRow, consumer: BatchConsumer, report: (error: unknown) => void): Promise<void> {
    const id = claimed.id;
    // A slow batch (a handler calling a remote CRM per entity) keeps its lease while it works.
    const renewal = setInterval(() => {
      try {
        this.db.writeLocked(() => this.s.renew.run(Date.now() + this.leaseMs, id));
      } catch (error) {
        report(error); // the next renewal may succeed; if none does, the lease expires and the batch comes back
      }
    }, this.leaseMs / 3);
    let done = false;
    try {
      await consumer(JSON.parse(claimed.payload) as BatchMessage, { deliveryCount: claimed.deliveries });
      done = true;
    } catch {
      // A rejection is the consumer giving the batch back (it reported why).
    } finally {
      clearInterval(renewal);
    }
    try {
      if (done) this.db.writeLocked(() => this.s.ack.run(id));
      else this.db.writeLocked(() => this.s.release.run(Date.now() + this.retryDelayMs, id));
    } catch (error) {
      report(error); // the lease still holds: the batch comes back when it expires
    }
  }

  async purge(actionId: string): Promise<number> {
    return this.db.writeLocked(() => this.s.purge.run(actionId, Date.now()).changes);
  }

  async depth(): Promise<number> {
    return (this.s.depth.get() as { n: number }).n;
  }

  async close(): Promise<void> {
    this.wakers.clear();
  }

  private claim(): ClaimedRow | undefined {
    const now = Date.now();
    return this.db.writeLocked(() => this.s.claim.get(now + this.leaseMs, now) as ClaimedRow | undefined);
  }
}
