import type { Statement } from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { toError } from '../../errors';
import type { BatchConsumer, BatchIdentity, BatchQueue, ConsumeOptions, QueueDepth, QueueRetry, Subscription } from '../../queue/batchQueue';
import { parseBatchMessage } from '../../queue/batchMessage';
import type { BatchMessage } from '../../types/entities';
import type { SqliteDatabase } from './database';

export interface SqliteQueueOptions {
  /** Spaces the deliveries of a batch whose consumer threw. */
  retry: QueueRetry;
  /** How long a claimed batch stays hidden (ms); a consumer that dies lets it reappear after this. A live consumer renews it. */
  leaseMs?: number;
  /** How often an idle consumer looks for work that another thread or process published (ms). */
  pollMs?: number;
  /** How long a consumer waits after the queue's own database failed before trying again (ms). */
  errorPauseMs?: number;
  /**
   * Who holds the leases this queue object takes (a worker thread: `leaseOwnerOfThread`). Every
   * lease token starts with it, so that `releaseLeasesOf(owner)` can hand the batches of a dead
   * owner back at once instead of after `leaseMs`.
   */
  leaseOwner?: string;
}

/** The lease owner of a worker thread of this process. */
export function leaseOwnerOfThread(threadId: number): string {
  return `thread ${threadId}`;
}

interface ClaimedRow {
  id: number;
  payload: string;
  deliveries: number;
}

/** A claimed batch while its consumer runs. `abandoned`: handed back by a stop that timed out; never settled. */
interface Lease {
  row: ClaimedRow;
  token: string;
  abandoned: boolean;
  renewal: NodeJS.Timeout | undefined;
}

/** How a delivered batch is settled: removed, handed back for a retry (with why), or moved to the dead letters (with why). */
type Settlement = { ack: true } | { retry: string } | { deadLetter: string };

type Statements = Record<'insert' | 'claim' | 'renew' | 'ack' | 'release' | 'toDeadLetters' | 'depth', Statement>;

/**
 * A durable at-least-once queue in the platform's SQLite file (embedded mode). Claiming a batch
 * takes a lease with a token; renew, ack, release and dead-letter only act while that token still
 * holds the lease. A consumer that throws hands the batch back with `leased_until` pushed out by
 * the retry backoff, so a failing batch never loops hot. Consumers in this thread are woken on
 * publish; others poll.
 */
export class SqliteBatchQueue implements BatchQueue {
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly errorPauseMs: number;
  private readonly wakers = new Set<() => void>();
  private readonly s: Statements;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: SqliteQueueOptions,
  ) {
    this.leaseMs = options.leaseMs ?? 60_000;
    this.pollMs = options.pollMs ?? 250;
    this.errorPauseMs = options.errorPauseMs ?? 1000;
    const leased = 'WHERE id = :id AND lease_token = :token';
    this.s = {
      insert: db.prepare('INSERT INTO queue_batches (action_id, payload) VALUES (?, ?)'),
      claim: db.prepare(`UPDATE queue_batches SET leased_until = :until, lease_token = :token, deliveries = deliveries + 1
        WHERE id = (SELECT id FROM queue_batches WHERE leased_until <= :now ORDER BY leased_until, id LIMIT 1)
        RETURNING id, payload, deliveries`),
      renew: db.prepare(`UPDATE queue_batches SET leased_until = :until ${leased}`),
      ack: db.prepare(`DELETE FROM queue_batches ${leased}`),
      release: db.prepare(`UPDATE queue_batches SET leased_until = :until, lease_token = NULL, last_error = :error ${leased}`),
      toDeadLetters: db.prepare(`INSERT INTO queue_dead_letters (action_id, payload, reason, deliveries, dead_lettered_at)
        SELECT action_id, payload, :reason, deliveries, :now FROM queue_batches ${leased}`),
      depth: db.prepare(`SELECT
          count(*) FILTER (WHERE lease_token IS NULL AND leased_until <= :now) AS ready,
          count(*) FILTER (WHERE lease_token IS NOT NULL) AS unacked,
          count(*) FILTER (WHERE lease_token IS NULL AND leased_until > :now) AS delayed,
          (SELECT count(*) FROM queue_dead_letters) AS deadLettered
        FROM queue_batches`),
    };
  }

  /**
   * Makes every leased batch available again. Only safe when no other process consumes this file,
   * which is the embedded mode's rule: one process owns a data dir.
   */
  releaseAllLeases(): number {
    return this.db.writeLocked(
      () => this.db.prepare('UPDATE queue_batches SET leased_until = 0, lease_token = NULL WHERE lease_token IS NOT NULL').run().changes,
    );
  }

  /**
   * Makes the batches leased by `owner` (see `leaseOwner`) available again, now. Only for an owner
   * that is gone (a worker thread that exited), so that none of its calls can still settle them
   * (they would be fenced out anyway). Their deliveries counted as attempts.
   */
  releaseLeasesOf(owner: string, reason: string): number {
    const prefix = `${owner}/`;
    return this.db.writeLocked(
      () =>
        this.db
          .prepare('UPDATE queue_batches SET leased_until = :now, lease_token = NULL, last_error = :reason WHERE substr(lease_token, 1, :length) = :prefix')
          .run({ now: Date.now(), reason, length: prefix.length, prefix }).changes,
    );
  }

  async publish(batches: BatchMessage[]): Promise<void> {
    if (batches.length === 0) return;
    // One transaction: once it commits, every batch is durable (WAL, synchronous=NORMAL).
    this.db.writeTransaction(() => {
      for (const b of batches) this.s.insert.run(b.actionId, JSON.stringify(b));
    });
    for (const wake of this.wakers) wake();
  }

  async consume(consumer: BatchConsumer, options: ConsumeOptions): Promise<Subscription> {
    const report = (error: unknown, batch?: BatchIdentity) => options.onError?.(toError(error), batch);
    let stopping = false;
    const idle = new Set<() => void>();
    const waker = () => {
      for (const resolve of idle) resolve();
      idle.clear();
    };
    this.wakers.add(waker);

    /** Waits for a publish in this thread, or `ms`, whichever comes first. */
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
        let claimed: { row: ClaimedRow; token: string } | undefined;
        try {
          claimed = this.claim();
        } catch (error) {
          report(error); // the file is locked by another process past busy_timeout, say
          await idleFor(this.errorPauseMs);
          continue;
        }
        if (!claimed) {
          await idleFor(this.pollMs);
          continue;
        }
        const lease: Lease = { ...claimed, abandoned: false, renewal: undefined };
        leases.add(lease);
        await this.deliver(lease, consumer, report);
        leases.delete(lease);
        options.afterSettled?.();
        // better-sqlite3 is synchronous: yield to the event loop so HTTP requests are answered between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };

    const leases = new Set<Lease>();
    const loops = Array.from({ length: options.concurrency }, loop);
    let stopped: Promise<void> | undefined;
    const stop = async (timeoutMs: number | undefined) => {
      stopping = true;
      this.wakers.delete(waker);
      waker();
      const drained = Promise.all(loops);
      if (timeoutMs === undefined) await drained;
      else if (!(await settlesWithin(drained, timeoutMs))) {
        for (const lease of leases) this.abandon(lease, `handed back at shutdown: still running after ${timeoutMs} ms`, report);
      }
    };
    return { stop: (stopOptions = {}) => (stopped ??= stop(stopOptions.timeoutMs)) };
  }

  /**
   * Gives up a delivery whose consumer is still running: its lease is released (fenced: only if
   * it is still ours) so the batch is claimed again at once, and the consumer's late result is
   * ignored. The delivery counted as an attempt when it was claimed.
   */
  private abandon(lease: Lease, reason: string, report: (error: unknown) => void): void {
    lease.abandoned = true;
    clearInterval(lease.renewal);
    try {
      this.db.writeLocked(() => this.s.release.run({ id: lease.row.id, token: lease.token, until: Date.now(), error: reason }));
    } catch (error) {
      report(error); // the lease expires instead; the next process releases it at start-up anyway
    }
  }

  /** Runs the consumer on one claimed batch and settles it as the consumer decided, unless it was abandoned meanwhile. */
  private async deliver(lease: Lease, consumer: BatchConsumer, report: (error: unknown, batch?: BatchIdentity) => void): Promise<void> {
    const { row, token } = lease;
    let batch: BatchMessage;
    try {
      batch = parseBatchMessage(row.payload);
    } catch (thrown) {
      const reason = toError(thrown).message;
      report(new Error(`queue_batches row ${row.id} is not a batch (${reason}); dead-lettered`));
      this.settle(row, token, { deadLetter: `malformed payload: ${reason}` }, report);
      return;
    }
    const reportAbout = (error: unknown) => report(error, { actionId: batch.actionId, batchNo: batch.batchNo });
    // A slow batch (a handler calling a remote CRM per entity) keeps its lease while it works.
    lease.renewal = setInterval(() => {
      try {
        this.db.writeLocked(() => this.s.renew.run({ until: Date.now() + this.leaseMs, id: row.id, token }));
      } catch (error) {
        reportAbout(error); // the next renewal may succeed; if none does, the lease expires and the batch comes back
      }
    }, this.leaseMs / 3);
    let how: Settlement;
    try {
      how = (await consumer(batch, { attempt: row.deliveries })) === 'ack' ? { ack: true } : { deadLetter: 'out of attempts' };
    } catch (error) {
      // The consumer hands the batch back (and logged why): it comes back after a backoff, with
      // the reason kept on the row for operators.
      how = { retry: toError(error).message };
    } finally {
      clearInterval(lease.renewal);
    }
    if (!lease.abandoned) this.settle(row, token, how, reportAbout);
  }

  private settle(row: ClaimedRow, token: string, how: Settlement, report: (error: unknown) => void): void {
    const key = { id: row.id, token };
    try {
      if ('ack' in how) this.db.writeLocked(() => this.s.ack.run(key));
      else if ('retry' in how) {
        const until = Date.now() + this.options.retry.backoffMs(row.deliveries);
        this.db.writeLocked(() => this.s.release.run({ ...key, until, error: how.retry }));
      }
      else {
        this.db.writeTransaction(() => {
          this.s.toDeadLetters.run({ ...key, reason: how.deadLetter, now: Date.now() });
          this.s.ack.run(key);
        });
      }
    } catch (error) {
      report(error); // the lease still holds: the batch comes back when it expires
    }
  }

  async depth(): Promise<QueueDepth> {
    return this.s.depth.get({ now: Date.now() }) as QueueDepth;
  }

  async ping(): Promise<void> {
    await this.depth(); // throws once the connection is closed
  }

  async close(): Promise<void> {
    this.wakers.clear();
  }

  private claim(): { row: ClaimedRow; token: string } | undefined {
    const now = Date.now();
    const token = this.options.leaseOwner === undefined ? randomUUID() : `${this.options.leaseOwner}/${randomUUID()}`;
    const row = this.db.writeLocked(() => this.s.claim.get({ until: now + this.leaseMs, token, now }) as ClaimedRow | undefined);
    return row ? { row, token } : undefined;
  }
}

/** Whether `promise` settles within `ms`; leaves no timer behind. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const ac = new AbortController();
  try {
    return await Promise.race([promise.then(() => true), sleep(ms, false, { signal: ac.signal }).catch(() => false)]);
  } finally {
    ac.abort();
  }
}
