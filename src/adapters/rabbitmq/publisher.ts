import type { ConfirmChannel, Message } from 'amqplib';
import { toError } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { OutgoingMessage } from './batchMessages';
import { ChannelSlot, withinMs, type RabbitConnection } from './connection';

/**
 * Publishes with publisher confirms (RabbitMQ docs, "Consumer Acknowledgements and Publisher
 * Confirms") on one shared confirm channel: a message counts as published only once the broker
 * acked it, which for a persistent message on a quorum queue means a majority of its replicas
 * wrote it to disk.
 *
 * Every message is `mandatory`: one that reaches no queue (its queue was deleted) comes back as
 * basic.return before its ack, and is reported as a failure instead of silently confirmed.
 */
export class ConfirmedPublisher {
  private readonly slot: ChannelSlot<ConfirmChannel>;
  /** Returned messages whose ack has not come yet, by routing key and message id. */
  private readonly returned = new Set<string>();

  constructor(connection: RabbitConnection, logger: Logger) {
    this.slot = new ChannelSlot(
      async () => {
        const channel = await connection.createConfirmChannel();
        channel.on('return', (message: Message) => this.returned.add(returnKey(message.fields.routingKey, message.properties.messageId)));
        return channel;
      },
      (error) => {
        if (error) logger.warn({ err: error }, 'RabbitMQ publishing channel closed; the next publish opens another');
      },
    );
  }

  /**
   * Resolves once the broker confirmed every message. During an outage it first waits for the
   * connection to come back. Rejects (and some messages may have been published, which consumers
   * tolerate) when:
   * - it took longer than `timeoutMs` in all, waiting for the connection included;
   * - the broker nacked a message, or returned it as unroutable;
   * - the channel closed before every confirm arrived (the connection was lost, say).
   * When the broker pushes back (the channel's write buffer is full: `publish` returned false), it
   * waits for 'drain' before writing more, so a large action never piles up in memory.
   */
  async publish(messages: OutgoingMessage[], timeoutMs: number): Promise<void> {
    if (messages.length === 0) return;
    await withinMs(this.publishOn(messages), timeoutMs, `publishing ${messages.length} message(s) to RabbitMQ`);
  }

  private async publishOn(messages: OutgoingMessage[]): Promise<void> {
    const channel = await this.slot.get();
    const confirms: Promise<void>[] = [];
    try {
      for (const message of messages) {
        const { confirmed, writable } = this.publishOne(channel, message);
        confirmed.catch(() => undefined); // awaited below; never unhandled meanwhile
        confirms.push(confirmed);
        if (!writable) await drained(channel);
      }
    } finally {
      // Even when writing failed half-way, every confirm callback is settled (amqplib fails them
      // when the channel closes): wait so the caller sees the first real cause.
      await Promise.allSettled(confirms);
    }
    await Promise.all(confirms);
  }

  private publishOne(channel: ConfirmChannel, message: OutgoingMessage): { confirmed: Promise<void>; writable: boolean } {
    const key = returnKey(message.queue, message.properties.messageId);
    let writable = true;
    const confirmed = new Promise<void>((resolve, reject) => {
      // Throws synchronously (IllegalOperationError) when the channel is already closed: the
      // executor turns that into a rejection.
      writable = channel.publish('', message.queue, message.content, { ...message.properties, mandatory: true }, (error: unknown) => {
        if (error) return reject(new Error(`RabbitMQ did not confirm a message to ${message.queue}: ${toError(error).message}`));
        if (this.returned.delete(key)) return reject(new Error(`RabbitMQ returned a message as unroutable: queue ${message.queue} does not exist`));
        resolve();
      });
    });
    return { confirmed, writable };
  }
}

function returnKey(routingKey: string, messageId: unknown): string {
  return `${routingKey}\n${String(messageId)}`;
}

/** Resolves on the channel's next 'drain'; rejects if it closes first. */
function drained(channel: ConfirmChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      channel.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      channel.off('drain', onDrain);
      reject(new Error('RabbitMQ channel closed while waiting for it to drain'));
    };
    channel.once('drain', onDrain);
    channel.once('close', onClose);
  });
}
