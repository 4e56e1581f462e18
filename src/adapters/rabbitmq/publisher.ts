import type { ConfirmChannel, Message } from 'amqplib';
import { toError } from '../../errors';
import type { Logger } from '../../observability/logger';
import type { OutgoingMessage } from './batchMessages';
import { withinMs } from '../../observability/deadline';
import { ChannelSlot, type RabbitConnection } from './connection';

/** Named points where tests inject faults into publishing; production sets none. */
export interface PublishFaults {
  /**
   * Runs before each message is written, on every try. A throw or rejection fails the publish with
   * that error, as a nack or a timeout would; it is awaited, so a test can change the broker first
   * (delete a queue, say).
   */
  beforePublish?(message: OutgoingMessage): void | Promise<void>;
}

/**
 * Publishes with publisher confirms (RabbitMQ docs, "Consumer Acknowledgements and Publisher
 * Confirms") on one shared confirm channel: a message counts as published only once the broker
 * acked it, which for a persistent message on a quorum queue means a majority of its replicas
 * wrote it to disk.
 *
 * Every message is `mandatory`: one that reaches no queue comes back as basic.return before its
 * ack instead of being silently confirmed. On the default exchange that means its queue is missing,
 * so the topology is declared again and the returned messages are published once more.
 */
export class ConfirmedPublisher {
  private readonly slot: ChannelSlot<ConfirmChannel>;
  /** Returned messages whose ack has not come yet, by routing key and message id. */
  private readonly returned = new Set<string>();

  constructor(
    private readonly connection: RabbitConnection,
    logger: Logger,
    private readonly faults: PublishFaults = {},
  ) {
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
   * - it took longer than `timeoutMs` in all, waiting for the connection and declaring included;
   * - the broker nacked a message, or returned it as unroutable again after the topology was
   *   declared again (its queue went again at once), or the declaration failed;
   * - the channel closed before every confirm arrived (the connection was lost, say);
   * - `faults.beforePublish` threw.
   * When the broker pushes back (the channel's write buffer is full: `publish` returned false), it
   * waits for 'drain' before writing more, so a large action never piles up in memory.
   */
  async publish(messages: OutgoingMessage[], timeoutMs: number): Promise<void> {
    if (messages.length === 0) return;
    await withinMs(this.publishDeclaringMissing(messages), timeoutMs, `publishing ${messages.length} message(s) to RabbitMQ`);
  }

  /** Once, not in a loop: a queue that is missing again right after its declaration is someone deleting it on purpose. */
  private async publishDeclaringMissing(messages: OutgoingMessage[]): Promise<void> {
    const returned = await this.publishOn(messages);
    if (returned.length === 0) return;
    await this.connection.declareAgain(unroutable(returned));
    const again = await this.publishOn(returned);
    if (again.length > 0) throw unroutable(again);
  }

  /** Publishes and waits for every confirm; resolves with the messages the broker returned as unroutable. */
  private async publishOn(messages: OutgoingMessage[]): Promise<OutgoingMessage[]> {
    const channel = await this.slot.get();
    const confirms: Promise<'confirmed' | 'returned'>[] = [];
    try {
      for (const message of messages) {
        await this.faults.beforePublish?.(message);
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
    const outcomes = await Promise.all(confirms);
    return messages.filter((_, i) => outcomes[i] === 'returned');
  }

  private publishOne(channel: ConfirmChannel, message: OutgoingMessage): { confirmed: Promise<'confirmed' | 'returned'>; writable: boolean } {
    const key = returnKey(message.queue, message.properties.messageId);
    let writable = true;
    const confirmed = new Promise<'confirmed' | 'returned'>((resolve, reject) => {
      // Throws synchronously (IllegalOperationError) when the channel is already closed: the
      // executor turns that into a rejection.
      writable = channel.publish('', message.queue, message.content, { ...message.properties, mandatory: true }, (error: unknown) => {
        if (error) return reject(new Error(`RabbitMQ did not confirm a message to ${message.queue}: ${toError(error).message}`));
        resolve(this.returned.delete(key) ? 'returned' : 'confirmed');
      });
    });
    return { confirmed, writable };
  }
}

function unroutable(returned: OutgoingMessage[]): Error {
  const queues = [...new Set(returned.map((m) => m.queue))].join(', ');
  return new Error(`RabbitMQ returned ${returned.length} message(s) as unroutable: queue ${queues} does not exist`);
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
