import type { Channel } from 'amqplib';
import type { DistributedSettings } from '../../config';
import type { Logger } from '../../observability/logger';
import type { BatchConsumer, BatchQueue, ConsumeOptions, QueueDepth, QueueRetry, Subscription } from '../../queue/batchQueue';
import type { BatchMessage } from '../../types/entities';
import { batchMessage } from './batchMessages';
import { ChannelSlot, DEFAULT_RECONNECT, RabbitConnection, withinMs, type ReconnectPolicy } from './connection';
import { ManagementApi, vhostOf } from './managementApi';
import { ConfirmedPublisher } from './publisher';
import { RabbitSubscription } from './subscription';
import { declareTopology, queueNames, type QueueNames } from './topology';

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

/**
 * The BatchQueue port on RabbitMQ (distributed mode): durable quorum queues, persistent messages,
 * publisher confirms, manual acks, retries through delay queues, and a dead-letter queue. Survives
 * a lost connection: it reconnects with backoff, declares the queues again and restarts every
 * subscription with its concurrency.
 */
export class RabbitBatchQueue implements BatchQueue {
  private readonly publisher: ConfirmedPublisher;
  /** For passive queue checks: a missing queue closes the channel it is checked on (404), so not the publisher's. */
  private readonly inspector: ChannelSlot<Channel>;
  private readonly subscriptions = new Set<RabbitSubscription>();
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
    this.publisher = new ConfirmedPublisher(connection, options.logger);
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
   * Rejects when the broker stays unreachable for `outageTimeoutMs`, or a queue is missing (404).
   */
  async depth(): Promise<QueueDepth> {
    this.assertOpen();
    const [counts, unacked] = await Promise.all([
      withinMs(this.countReady(), this.outageTimeoutMs, 'reading RabbitMQ queue depths'),
      this.unacknowledged(),
    ]);
    return { ready: counts.ready, unacked, delayed: counts.delayed, deadLettered: counts.deadLettered };
  }

  private async countReady(): Promise<{ ready: number; delayed: number; deadLettered: number }> {
    const channel = await this.inspector.get();
    // One channel answers one RPC at a time: amqplib queues these, no need to wait for each.
    const count = async (queue: string) => (await channel.checkQueue(queue)).messageCount;
    const [ready, deadLettered, ...delays] = await Promise.all([
      count(this.names.work),
      count(this.names.deadLetter),
      ...this.names.delays.map((d) => count(d.name)),
    ]);
    return { ready: ready ?? 0, deadLettered: deadLettered ?? 0, delayed: delays.reduce((sum, n) => sum + n, 0) };
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
