import type { Channel, ConsumeMessage } from 'amqplib';
import { toError } from '../../errors';

/**
 * One consumer channel and its consumer. Knows whether deliveries from it can still be settled:
 * AMQP 0-9-1 delivery tags belong to their channel, and a closed channel's unacked deliveries are
 * back in the queue, so they are settled on this channel while it is open, or never.
 */
export class ConsumerSession {
  /** Resolves when the channel closed: with the channel's own error, or null (its connection went, or a clean close). */
  readonly closed: Promise<Error | null>;
  private open = true;
  private consumerTag: string | null = null;
  private lastError: Error | null = null;
  private readonly openedAt = Date.now();

  constructor(private readonly channel: Channel) {
    channel.on('error', (error: Error) => {
      this.lastError = error;
    });
    this.closed = new Promise((resolve) => {
      channel.once('close', () => {
        this.open = false;
        resolve(this.lastError);
      });
    });
  }

  /** False from the channel's 'close' event on. */
  get isOpen(): boolean {
    return this.open;
  }

  /** How long ago the channel was opened (ms). */
  openForMs(): number {
    return Date.now() - this.openedAt;
  }

  /** basic.consume with manual acks; `onMessage` gets null if the broker cancels the consumer. Rejects if the queue is missing (404 closes the channel). */
  async consume(queue: string, onMessage: (message: ConsumeMessage | null) => void): Promise<void> {
    const { consumerTag } = await this.channel.consume(queue, onMessage, { noAck: false });
    this.consumerTag = consumerTag;
  }

  /** basic.ack, only on the live channel the delivery came from (a closed channel's tags mean nothing). */
  ack(message: ConsumeMessage): void {
    if (!this.open) return;
    try {
      this.channel.ack(message);
    } catch {
      // closing meanwhile: the broker requeues the delivery
    }
  }

  /**
   * basic.reject with requeue, under the same rule as `ack`. Reject rather than nack: RabbitMQ 4.3
   * counts a rejected return as a failed delivery in `x-delivery-count`, a nacked one not.
   */
  reject(message: ConsumeMessage): void {
    if (!this.open) return;
    try {
      this.channel.reject(message, true);
    } catch {
      // closing meanwhile: the broker requeues the delivery
    }
  }

  /** basic.cancel: nothing is delivered once the broker confirmed it. Never rejects. */
  async cancel(): Promise<void> {
    if (this.open && this.consumerTag) await this.channel.cancel(this.consumerTag).catch(() => undefined);
  }

  /** Closes the channel; the broker requeues whatever it still holds unacked. Never rejects. */
  async close(): Promise<void> {
    if (this.open) await this.channel.close().catch(() => undefined);
  }

  /** Gives the channel up because of `reason`; `closed` resolves with it. */
  lose(reason: Error): void {
    this.lastError = reason;
    void this.close();
  }
}

/**
 * `promise`, or a rejection as soon as `signal` aborts. A channel that arrives after the abort is
 * closed, so nothing consumes on behalf of a stopped subscription.
 */
export function abortable(promise: Promise<Channel>, signal: AbortSignal): Promise<Channel> {
  if (signal.aborted) {
    promise.then((channel) => channel.close().catch(() => undefined), () => undefined);
    return Promise.reject(new Error('subscription stopped'));
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      promise.then((channel) => channel.close().catch(() => undefined), () => undefined);
      reject(new Error('subscription stopped'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (channel) => {
        signal.removeEventListener('abort', onAbort);
        resolve(channel);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(toError(error));
      },
    );
  });
}
