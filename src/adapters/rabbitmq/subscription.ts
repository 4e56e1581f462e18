import type { ConsumeMessage } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { toError } from '../../errors';
import type { BatchConsumer, BatchIdentity, ConsumeOptions, StopOptions, Subscription } from '../../queue/batchQueue';
import { withinMs } from '../../observability/deadline';
import type { RabbitConnection } from './connection';
import { abortable, ConsumerSession } from './consumerSession';
import { settleDelivery, type SettlementContext, type SettlementDeps } from './settlement';
import { isQueueMissing } from './topology';

export interface SubscriptionDeps extends SettlementDeps {
  connection: RabbitConnection;
}

/**
 * Consumes the work queue on a channel of its own with prefetch = `concurrency` (AMQP 0-9-1
 * basic.qos, per consumer), so at most that many batches are delivered and unsettled at once.
 *
 * A delivery is settled only after the consumer's promise settled (its outcomes are stored by then):
 * - `ack`: basic.ack;
 * - `dead-letter`: a confirmed copy to the dead-letter queue, then basic.ack;
 * - a throw: a confirmed copy to the delay queue of its backoff, then basic.ack;
 * - a copy that cannot be published: the batch goes back after a pause (settlement.ts, handBack),
 *   a dead letter with its verdict, so that a later 'ack' still dead-letters it.
 * Settling happens on the channel the delivery came from and only while it is open. When it closed
 * (connection lost), the broker has put the message back (unacked deliveries of a closed channel
 * are requeued) and counts the redelivery in `x-delivery-count`; acking it on another channel is
 * impossible (delivery tags are per channel), so the result is dropped and the batch runs again.
 *
 * After a channel closes, the subscription waits for its abandoned consumer calls to end (so that
 * at most `concurrency` calls ever run, and this process never runs a batch twice at once), then
 * opens a new channel with backoff; during an outage that waits for the connection to return.
 * A work queue found missing there (deleted: the broker cancels our consumer, and basic.consume
 * fails 404) is declared again, so consuming resumes without waiting for a reconnection.
 *
 * Each error is reported once: to `onError` when the subscription has one, else to the logger.
 */
export class RabbitSubscription implements Subscription {
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private session: ConsumerSession | null = null;
  private opening: Promise<ConsumerSession> | null = null;
  private supervisor: Promise<void> = Promise.resolve();
  private stopped: Promise<void> | null = null;
  /** Why the connection last went down: a channel closed by that carries no reason of its own. */
  private connectionLoss: Error | null = null;
  private readonly unlisten: () => void;
  private readonly settlement: SettlementContext;

  private constructor(
    private readonly deps: SubscriptionDeps,
    consumer: BatchConsumer,
    private readonly options: ConsumeOptions,
    private readonly onStopped: () => void,
  ) {
    this.unlisten = deps.connection.onLost((error) => {
      this.connectionLoss = error;
    });
    this.settlement = { deps, consumer, report: (error, batch) => this.report(error, batch), pause: (ms) => this.pause(ms) };
  }

  /**
   * Starts consuming; rejects if the first channel cannot be opened (the connection was closed), or
   * the work queue is missing and cannot be declared again.
   */
  static async start(deps: SubscriptionDeps, consumer: BatchConsumer, options: ConsumeOptions, onStopped: () => void): Promise<RabbitSubscription> {
    if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) throw new RangeError(`concurrency must be a positive integer; got ${options.concurrency}`);
    const subscription = new RabbitSubscription(deps, consumer, options, onStopped);
    const first = await subscription.openSession().catch((error: unknown) => {
      subscription.unlisten();
      throw error;
    });
    subscription.supervisor = subscription.supervise(first);
    return subscription;
  }

  /**
   * Cancels the consumer (basic.cancel: the broker delivers nothing more), waits for the consumer
   * calls in flight and their settlement (at most `timeoutMs`), then closes the channel. Past the
   * timeout, closing the channel hands every unsettled delivery back (the broker requeues them),
   * and the abandoned calls' late results are dropped (settleDelivery checks the channel). Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopped ??= this.drain(options.timeoutMs);
    return this.stopped;
  }

  private get stopping(): boolean {
    return this.stopped !== null;
  }

  private async drain(timeoutMs: number | undefined): Promise<void> {
    this.abort.abort(); // ends a backoff pause, or a wait for the connection
    await this.opening?.catch(() => undefined);
    const session = this.session;
    await session?.cancel();
    const finished = timeoutMs === undefined ? await this.settled().then(() => true) : await withinMs(this.settled(), timeoutMs, 'draining').then(() => true, () => false);
    await session?.close();
    if (!finished) {
      this.deps.logger.warn({ queue: this.deps.names.work, inFlight: this.inFlight.size, timeoutMs }, 'stopped with batches still in flight: their channel is closed, so the broker delivers them again');
    }
    await this.supervisor;
    this.unlisten();
    this.onStopped();
  }

  private async supervise(first: ConsumerSession): Promise<void> {
    let session: ConsumerSession | null = first;
    let failures = 0;
    while (!this.stopping) {
      if (session) {
        const reason = (await session.closed) ?? this.connectionLoss ?? new Error('closed');
        this.connectionLoss = null;
        if (this.stopping) return;
        this.report(new Error(`RabbitMQ consumer channel of ${this.deps.names.work} closed (${reason.message}); consuming again once a channel opens`));
        if (session.openForMs() > this.deps.reconnect.maxDelayMs) failures = 0; // it worked for a while: start the backoff over
      }
      await this.settled();
      const delayMs = Math.min(this.deps.reconnect.maxDelayMs, this.deps.reconnect.initialDelayMs * 2 ** failures++);
      if (!(await this.pause(delayMs))) return;
      try {
        session = await this.openSession();
      } catch (error) {
        if (this.stopping) return;
        session = null;
        this.report(error);
      }
    }
  }

  /** Consumes on a new channel; a missing work queue is declared again and consumed once more. */
  private openSession(): Promise<ConsumerSession> {
    const opening = (async () => {
      const session = await this.consumeOnNewChannel().catch(async (error: unknown) => {
        if (!isQueueMissing(error) || this.stopping) throw error;
        await this.deps.connection.declareAgain(toError(error));
        return this.consumeOnNewChannel(); // the 404 closed the channel
      });
      this.session = session;
      return session;
    })();
    this.opening = opening;
    opening.then(
      () => (this.opening = null),
      () => (this.opening = null),
    );
    return opening;
  }

  private async consumeOnNewChannel(): Promise<ConsumerSession> {
    const channel = await abortable(this.deps.connection.createChannel(), this.abort.signal);
    const session = new ConsumerSession(channel);
    try {
      await channel.prefetch(this.options.concurrency);
      await session.consume(this.deps.names.work, (message) => this.receive(session, message));
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  private receive(session: ConsumerSession, message: ConsumeMessage | null): void {
    if (message === null) {
      // basic.cancel from the broker: the queue was deleted. Start over on a new channel.
      session.lose(new Error('the broker cancelled the consumer (was the queue deleted?)'));
      return;
    }
    const task: Promise<void> = settleDelivery(this.settlement, session, message)
      .then(() => this.options.afterSettled?.())
      .catch((error: unknown) => this.report(error))
      .finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  /** Waits until every consumer call in flight (and its settlement) ended, including any that start meanwhile. */
  private async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Sleeps `ms` unless stopped meanwhile; false when stopped. */
  private async pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
    } catch {
      // aborted by stop()
    }
    return !this.stopping;
  }

  /** Once: `onError` is the caller's log (src/processing/workers.ts logs it), so logging here too would double every line. */
  private report(error: unknown, batch?: BatchIdentity): void {
    const err = toError(error);
    if (!this.options.onError) {
      this.deps.logger.warn({ err, queue: this.deps.names.work, ...batch }, 'RabbitMQ queue error');
      return;
    }
    try {
      this.options.onError(err, batch);
    } catch (thrown) {
      // A throwing listener must not turn into an unhandled rejection that ends the process.
      this.deps.logger.error({ err: toError(thrown) }, 'the onError listener of a RabbitMQ subscription threw');
    }
  }
}
