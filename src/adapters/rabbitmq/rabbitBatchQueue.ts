import type { Channel } from 'amqplib';
import type { DistributedSettings } from '../../config';
import { toError } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { BatchConsumer, BatchQueue, ConsumeOptions, QueueDepth, QueueRetry, Subscription } from '../../queue/batchQueue';
import type { BatchMessage } from '../../types/entities';
import { batchMessage } from './batchMessages';
import { withinMs } from '../../observability/deadline';
import { ChannelSlot, DEFAULT_RECONNECT, RabbitConnection, type ReconnectPolicy } from './connection';
import { ManagementApi, vhostOf } from './managementApi';
import { ConfirmedPublisher, type PublishFaults } from './publisher';
import { PendingDeadLetters } from './settlement';
import { RabbitSubscription } from './subscription';
import { declareTopology, isQueueMissing, queueNames, type QueueNames } from './topology';

export interface RabbitQueueOptions {
  /** Spaces the deliveries of a batch whose consumer threw: the copy waits `backoffMs(attempt)` ms in a delay queue. */
  retry: QueueRetry;
  logger: Logger;
  /**
   * How long `publish` and `depth` wait for the broker, an outage's reconnection included, before
   * they reject (ms). Default 30 s.
   */
  outageTimeoutMs?: number;
  /** Backoff of reconnections and of reopening a consumer channel. Default DEFAULT_RECONNECT. */
  reconnect?: Partial<ReconnectPolicy>;
  /** The connection's name in the management UI. Default `bulk-action-platform <queue>`. */
  connectionName?: string;
  /** Named points where tests inject faults into publishing (every publish: batches, retry and dead-letter copies); production sets none. */
  faults?: PublishFaults;
}

/** The settings this adapter reads; `DistributedSettings` has them all. */
export type RabbitSettings = Pick<DistributedSettings, 'rabbitmqUrl' | 'rabbitmqManagementUrl' | 'rabbitmqQueue'>;

/**
 * Connects, declares the queues (see topology.ts) and returns the queue. Rejects when the broker
 * stays unreachable through the first connection's retries (about 3 s), refuses the credentials,
 * or holds a queue of one of our names with other arguments (406 PRECONDITION_FAILED).
 */
export async function openRabbitBatchQueue(settings: RabbitSettings, options: RabbitQueueOptions): Promise<RabbitBatchQueue> {
  const names = queueNames(settings.rabbitmqQueue);
  const reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
  const connection = await RabbitConnection.open(settings.rabbitmqUrl, {
    name: options.connectionName ?? `bulk-action-platform ${names.work}`,
    logger: options.logger,
    reconnect,
    setup: (channel) => declareTopology(channel, names),
  });
  const management = settings.rabbitmqManagementUrl ? new ManagementApi(settings.rabbitmqManagementUrl, vhostOf(settings.rabbitmqUrl)) : null;
  return new RabbitBatchQueue(connection, names, management, { ...options, reconnect });
}

type ReadyCounts = Pick<QueueDepth, 'ready' | 'delayed' | 'deadLettered'>;

/**
 * The BatchQueue port on RabbitMQ (distributed mode): durable quorum queues, persistent messages,
 * publisher confirms, manual acks, retries through delay queues, and a dead-letter queue. Survives
 * a lost connection: it reconnects with backoff, declares the queues again and restarts every
 * subscription with its concurrency. Survives a queue deleted under a live connection too: whoever
 * meets its 404 (a consumer, a publish returned unroutable, a depth read) declares them again.
 */
export class RabbitBatchQueue implements BatchQueue {
  private readonly publisher: ConfirmedPublisher;
  /** For passive queue checks: a missing queue closes the channel it is checked on (404), so not the publisher's. */
  private readonly inspector: ChannelSlot<Channel>;
  private readonly subscriptions = new Set<RabbitSubscription>();
  /** Shared by this queue's subscriptions: see `PendingDeadLetters`. */
  private readonly pendingDeadLetters = new PendingDeadLetters();
  private readonly outageTimeoutMs: number;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly connection: RabbitConnection,
    /** The queues' names, for operators and tests. */
    readonly names: QueueNames,
    private readonly management: ManagementApi | null,
    private readonly options: RabbitQueueOptions & { reconnect: ReconnectPolicy },
  ) {
    this.outageTimeoutMs = options.outageTimeoutMs ?? 30_000;
    this.publisher = new ConfirmedPublisher(connection, options.logger, options.faults);
    this.inspector = new ChannelSlot(() => connection.createChannel(), () => undefined);
  }

  /**
   * Publishes each batch to the work queue as a persistent message (see batchMessages.ts) and
   * resolves once the broker confirmed them all. During an outage it waits for the reconnection,
   * at most `outageTimeoutMs` in all. Rejects on a timeout, a nack, an unroutable message or a
   * channel that closed before confirming; some batches may have been published then.
   */
  async publish(batches: BatchMessage[]): Promise<void> {
    this.assertOpen();
    await this.publisher.publish(
      batches.map((batch) => batchMessage(this.names.work, batch)),
      this.outageTimeoutMs,
    );
  }

  /**
   * Starts a subscription on its own channel with prefetch = `concurrency` and resolves once the
   * broker registered the consumer. See subscription.ts for how deliveries are settled, retried
   * and dead-lettered. Channel losses, malformed messages and failed settlements are reported once:
   * to `onError`, or without one to the logger (warn).
   */
  async consume(consumer: BatchConsumer, options: ConsumeOptions): Promise<Subscription> {
    this.assertOpen();
    const subscription = await RabbitSubscription.start(
      {
        connection: this.connection,
        publisher: this.publisher,
        names: this.names,
        retry: this.options.retry,
        logger: this.options.logger,
        reconnect: this.options.reconnect,
        publishTimeoutMs: this.outageTimeoutMs,
        pendingDeadLetters: this.pendingDeadLetters,
      },
      consumer,
      options,
      () => this.subscriptions.delete(subscription),
    );
    this.subscriptions.add(subscription);
    return subscription;
  }

  /**
   * - ready: the work queue's ready messages (passive queue.declare);
   * - delayed: the ready messages of every delay queue (copies waiting out a backoff);
   * - deadLettered: the dead-letter queue's messages;
   * - unacked: from the management API, which lags by up to its statistics interval (5 s by
   *   default); null without RABBITMQ_MANAGEMENT_URL, while the broker has no sample of a new
   *   queue yet, or when the API fails (logged).
   * A queue found missing (404) is declared again and the counts read once more, so a deleted
   * queue does not fail every health check until the next reconnection.
   * Rejects when the broker stays unreachable for `outageTimeoutMs`, the declaration fails, or a
   * queue is missing again right after it.
   */
  async depth(): Promise<QueueDepth> {
    this.assertOpen();
    const [counts, unacked] = await Promise.all([
      withinMs(this.countReady(), this.outageTimeoutMs, 'reading RabbitMQ queue depths'),
      this.unacknowledged(),
    ]);
    return { ready: counts.ready, unacked, delayed: counts.delayed, deadLettered: counts.deadLettered };
  }

  /** The depth read without the management API (an optional extra whose failure only hides `unacked`). */
  async ping(): Promise<void> {
    this.assertOpen();
    await this.countReady();
  }

  private async countReady(): Promise<ReadyCounts> {
    try {
      return await this.countReadyOnce();
    } catch (error) {
      if (!isQueueMissing(error)) throw error;
      await this.connection.declareAgain(toError(error));
      return this.countReadyOnce(); // the 404 closed the inspector channel: this opens another
    }
  }

  private async countReadyOnce(): Promise<ReadyCounts> {
    const channel = await this.inspector.get();
    // One channel answers one RPC at a time: amqplib queues these, no need to wait for each.
    const queues = [this.names.work, this.names.deadLetter, ...this.names.delays.map((d) => d.name)];
    const counts = await Promise.allSettled(queues.map(async (queue) => (await channel.checkQueue(queue)).messageCount));
    // A 404 closes the channel and fails the checks queued behind it with a vaguer error: throw the 404.
    const failures = counts.flatMap((c) => (c.status === 'rejected' ? [c.reason as unknown] : []));
    if (failures.length > 0) throw toError(failures.find(isQueueMissing) ?? failures[0]);
    const [ready = 0, deadLettered = 0, ...delays] = counts.map((c) => (c.status === 'fulfilled' ? c.value : 0));
    return { ready, deadLettered, delayed: delays.reduce((sum, n) => sum + n, 0) };
  }

  private async unacknowledged(): Promise<number | null> {
    if (!this.management) return null;
    try {
      return await this.management.unacknowledged(this.names.work);
    } catch (error) {
      this.options.logger.warn({ err: error, queue: this.names.work }, 'RabbitMQ management API failed; unacked not reported');
      return null;
    }
  }

  /**
   * Stops every subscription (each waits for its batches in flight and acks them), then closes the
   * connection and with it every channel. Leaves no socket or timer behind. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions].map((s) => s.stop()));
      await this.connection.close();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new Error(`RabbitMQ queue ${this.names.work} is closed`);
  }
}
