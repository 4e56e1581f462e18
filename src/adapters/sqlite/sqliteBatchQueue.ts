import type { Statement } from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchConsumer, BatchQueue, Subscription } from '../../queue/batchQueue';
import type { BatchMessage } from '../../types/entities';
import type { SqliteDatabase } from './database';

export interface SqliteQueueOptions {
  /** How long a claimed batch stays hidden; a consumer that dies lets it reappear after this. A live consumer renews it. */
  leaseMs?: number;
  /** How often an idle consumer looks for work that another process enqueued. */
  pollMs?: number;
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
  private readonly wakers = new Set<() => void>();
  private readonly s: Record<'insert' | 'claim' | 'renew' | 'ack' | 'release' | 'purge' | 'depth', Statement>;

  constructor(
    private readonly db: SqliteDatabase,
    options: SqliteQueueOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 60_000;
    this.pollMs = options.pollMs ?? 250;
    this.s = {
      insert: db.prepare('INSERT INTO queue_batches (action_id, payload) VALUES (?, ?)'),
      claim: db.prepare(`UPDATE queue_batches SET leased_until = ?, deliveries = deliveries + 1
        WHERE id = (SELECT id FROM queue_batches WHERE leased_until <= ? ORDER BY leased_until, id LIMIT 1)
        RETURNING id, payload, deliveries`),
      renew: db.prepare('UPDATE queue_batches SET leased_until = ? WHERE id = ?'),
      ack: db.prepare('DELETE FROM queue_batches WHERE id = ?'),
      release: db.prepare('UPDATE queue_batches SET leased_until = 0 WHERE id = ?'),
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
    this.db.writeLocked(() =>
      this.db.transaction(() => {
        for (const b of batches) this.s.insert.run(b.actionId, JSON.stringify(b));
      })(),
    );
    for (const wake of this.wakers) wake();
  }

  async consume(consumer: BatchConsumer, options: { concurrency: number }): Promise<Subscription> {
    let stopping = false;
    const idle = new Set<() => void>();
    const waker = () => {
      for (const resolve of idle) resolve();
      idle.clear();
    };
    this.wakers.add(waker);

    const loop = async (): Promise<void> => {
      while (!stopping) {
        const claimed = this.claim();
        if (!claimed) {
          const ac = new AbortController();
          let wake!: () => void;
          const woken = new Promise<void>((resolve) => idle.add((wake = resolve)));
          await Promise.race([woken, sleep(this.pollMs, undefined, { signal: ac.signal }).catch(() => {})]);
          ac.abort(); // no timer outlives the wait
          idle.delete(wake);
          continue;
        }
        // A slow batch (a handler calling a remote CRM per entity) keeps its lease while it works.
        const renewal = setInterval(() => this.db.writeLocked(() => this.s.renew.run(Date.now() + this.leaseMs, claimed.id)), this.leaseMs / 3);
        try {
          await consumer(JSON.parse(claimed.payload) as BatchMessage, { deliveryCount: claimed.deliveries });
          this.db.writeLocked(() => this.s.ack.run(claimed.id));
        } catch {
          // A rejection is the consumer giving the batch back (it logged why): it is redelivered.
          this.db.writeLocked(() => this.s.release.run(claimed.id));
        } finally {
          clearInterval(renewal);
        }
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
