import { connect, type Channel, type ChannelModel, type ConfirmChannel, type RecoveringChannelModel } from 'amqplib';
import { toError } from '../../errors';
import type { Logger } from '../../observability/logger';

/**
 * Reconnection backoff (ms): the n-th attempt after a loss waits about initialDelayMs * 2^(n-1),
 * at most maxDelayMs, with ±20% jitter so that many workers do not reconnect in lockstep.
 */
export interface ReconnectPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  /**
   * Failed attempts before the first connection gives up (open rejects), so a wrong URL fails the
   * start instead of hanging it. Once connected, reconnection never gives up.
   */
  initialRetries: number;
}

/** 100 ms, 200 ms, ... capped at 5 s; a start fails after 5 retries (about 3 s). */
export const DEFAULT_RECONNECT: ReconnectPolicy = { initialDelayMs: 100, maxDelayMs: 5_000, initialRetries: 5 };

export interface RabbitConnectionOptions {
  /** Shown as the connection's name in the management UI (client property `connection_name`). */
  name: string;
  logger: Logger;
  reconnect: ReconnectPolicy;
  /** Runs on a fresh channel after every (re)connection, before any channel is handed out: declares the topology. */
  setup: (channel: Channel) => Promise<void>;
}

/**
 * One AMQP connection that comes back by itself. It is amqplib's opt-in recovery (amqplib >= 1.1,
 * README "Opt-in recovery"): after a lost connection it reconnects with backoff and runs `setup`
 * again. Channels do not survive a connection, so their owners (the publisher, each subscription)
 * open new ones; `createChannel` waits through an outage until the connection is back.
 *
 * Every 'error' event gets a listener here or on the channel: an unhandled 'error' event would
 * throw and end the Node process.
 */
export class RabbitConnection {
  private readonly lostListeners = new Set<(error: Error) => void>();
  private declaring: Promise<void> | null = null;

  private constructor(
    private readonly model: RecoveringChannelModel,
    private readonly logger: Logger,
    private readonly setup: (channel: Channel) => Promise<void>,
  ) {}

  /**
   * Connects to `url` (amqp://user:pass@host:port/vhost), runs `setup`, and resolves once both
   * succeeded. Rejects with the last error after `reconnect.initialRetries` failed retries (broker
   * unreachable, wrong credentials, or `setup` failing, e.g. a queue declared with other arguments).
   */
  static async open(url: string, options: RabbitConnectionOptions): Promise<RabbitConnection> {
    const { logger, reconnect } = options;
    const model = await connect(url, {
      clientProperties: { connection_name: options.name },
      recovery: {
        initialDelay: reconnect.initialDelayMs,
        maxDelay: reconnect.maxDelayMs,
        factor: 2,
        jitter: 0.2,
        maxRetries: Infinity,
        initialMaxRetries: reconnect.initialRetries,
        // Resolve at once, so the listeners below are attached before the first attempt.
        waitForConnect: false,
        setup: async (connection: ChannelModel) => {
          // amqplib attaches its own listener only after setup: cover the window.
          connection.on('error', (error: Error) => logger.debug({ err: error }, 'RabbitMQ connection error during setup'));
          const channel = await connection.createChannel();
          channel.on('error', (error: Error) => logger.debug({ err: error }, 'RabbitMQ setup channel error'));
          try {
            await options.setup(channel);
          } finally {
            await channel.close().catch(() => undefined); // a failed declare has closed it already
          }
        },
      },
    });
    const connection = new RabbitConnection(model, logger, options.setup);
    connection.listen(options.name);
    try {
      await model.waitForConnect();
    } catch (error) {
      await model.close();
      throw toError(error);
    }
    return connection;
  }

  private listen(name: string): void {
    const { model, logger } = this;
    let connectedOnce = false;
    model.on('connect', () => {
      if (connectedOnce) logger.info({ connection: name }, 'RabbitMQ connection re-established; topology declared again');
      connectedOnce = true;
    });
    model.on('disconnect', (error: Error) => {
      logger.warn({ err: error, connection: name }, 'RabbitMQ connection lost; reconnecting');
      for (const listener of this.lostListeners) listener(error);
    });
    model.on('connect-failed', (error: Error) => logger.warn({ err: error, connection: name }, 'RabbitMQ connection attempt failed'));
    model.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) =>
      logger.debug({ connection: name, attempt, delayMs: delay }, 'RabbitMQ reconnection scheduled'));
    model.on('reconnect-failed', (error: Error) => logger.error({ err: error, connection: name }, 'RabbitMQ connection given up'));
    // 'disconnect' reports the same failure; this only keeps the event from being unhandled.
    model.on('error', (error: Error) => logger.debug({ err: error, connection: name }, 'RabbitMQ connection error'));
    model.on('blocked', (reason: string) => logger.warn({ connection: name, reason }, 'RabbitMQ blocked publishing (resource alarm)'));
    model.on('unblocked', () => logger.info({ connection: name }, 'RabbitMQ unblocked publishing'));
    model.on('handler-error', (error: Error, event: string) => logger.error({ err: error, connection: name, event }, 'a RabbitMQ event listener threw'));
  }

  /** Calls `listener` with the reason each time the connection is lost. Returns the unsubscribe function. */
  onLost(listener: (error: Error) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /**
   * Runs `setup` again on a fresh channel, for an owner that found one of the topology's queues
   * missing (404 NOT_FOUND: deleted by an operator, or lost by the broker). Without this, `setup`
   * runs only when a connection opens, and a queue deleted under a live connection stays missing.
   * Calls made while a declaration runs share it, so a queue that the publisher, a consumer and a
   * depth read all miss at once is declared once. `reason` (the 404) goes into the log line.
   * Rejects when no channel opens (the connection was closed) or a declaration fails.
   */
  declareAgain(reason: Error): Promise<void> {
    this.declaring ??= (async () => {
      try {
        const channel = await this.createChannel();
        try {
          await this.setup(channel);
        } finally {
          await channel.close().catch(() => undefined); // a failed declare has closed it already
        }
        this.logger.warn({ err: reason }, 'RabbitMQ queue missing; topology declared again');
      } finally {
        this.declaring = null;
      }
    })();
    return this.declaring;
  }

  /** A channel on the live connection; during an outage, waits for the reconnection. Rejects once the connection is closed. */
  async createChannel(): Promise<Channel> {
    return this.guard(await this.model.createChannel());
  }

  /** A channel in confirm mode (RabbitMQ publisher confirms); waits like `createChannel`. */
  async createConfirmChannel(): Promise<ConfirmChannel> {
    return this.guard(await this.model.createConfirmChannel());
  }

  private guard<T extends Channel>(channel: T): T {
    // The channel's owner decides what a channel error means; this only keeps it from being unhandled.
    channel.on('error', (error: Error) => this.logger.debug({ err: error }, 'RabbitMQ channel error'));
    channel.on('handler-error', (error: Error, event: string) => this.logger.error({ err: error, event }, 'a RabbitMQ channel listener threw'));
    return channel;
  }

  /** Closes the connection and with it every channel (AMQP 0-9-1 connection.close); stops reconnecting. */
  async close(): Promise<void> {
    this.lostListeners.clear();
    await this.model.close();
  }
}

/**
 * One long-lived channel, opened on first use and again on the first use after it closed. Used
 * for publishing and for passive queue checks, which need no state of their own on the channel.
 */
export class ChannelSlot<T extends Channel> {
  private current: Promise<T> | null = null;

  /** `onClosed` hears why a channel that was in use closed (null: a clean close). */
  constructor(
    private readonly open: () => Promise<T>,
    private readonly onClosed: (error: Error | null) => void,
  ) {}

  get(): Promise<T> {
    if (this.current) return this.current;
    const opening = this.open().then((channel) => {
      let lastError: Error | null = null;
      channel.on('error', (error: Error) => {
        lastError = error;
      });
      channel.once('close', () => {
        if (this.current === opening) this.current = null;
        this.onClosed(lastError);
      });
      return channel;
    });
    opening.catch(() => {
      if (this.current === opening) this.current = null;
    });
    this.current = opening;
    return opening;
  }
}
