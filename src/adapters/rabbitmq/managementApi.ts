/**
 * The one figure AMQP cannot give: how many messages of a queue are delivered and not yet acked.
 * AMQP 0-9-1 queue.declare-ok only counts ready messages, so this asks the management plugin's
 * HTTP API (RabbitMQ docs, "Management Plugin", GET /api/queues/{vhost}/{name}).
 *
 * The figures there are samples, refreshed every `collect_statistics_interval` (5 s by default):
 * the count may lag the queue by that much, and a queue younger than one interval has none yet.
 */
export class ManagementApi {
  private readonly base: URL;
  private readonly authorization: string | null;

  /**
   * `managementUrl`: http(s)://user:pass@host:15672 (a path prefix is kept, for a proxied API).
   * `vhost`: the virtual host of the queues ("/" by default).
   */
  constructor(
    managementUrl: string,
    private readonly vhost: string,
    private readonly timeoutMs = 5_000,
  ) {
    const url = new URL(managementUrl);
    // fetch refuses a URL with credentials in it: send them as basic auth instead.
    this.authorization = url.username
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : null;
    url.username = '';
    url.password = '';
    if (!url.pathname.endsWith('/')) url.pathname += '/';
    this.base = url;
  }

  /**
   * `messages_unacknowledged` of `queue`, or null while the broker has no sample of it yet.
   * Rejects when the API is unreachable, answers an error status (404: no such queue; 401: bad
   * credentials), or takes longer than the timeout.
   */
  async unacknowledged(queue: string): Promise<number | null> {
    const url = new URL(`api/queues/${encodeURIComponent(this.vhost)}/${encodeURIComponent(queue)}?columns=messages_unacknowledged`, this.base);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      const response = await fetch(url, {
        signal: controller.signal,
        headers: {
          accept: 'application/json',
          // No keep-alive: an idle pooled socket would outlive close() (and the tests' leak check).
          connection: 'close',
          ...(this.authorization ? { authorization: this.authorization } : {}),
        },
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`RabbitMQ management API answered ${response.status} for queue ${queue}`);
      }
      const body = (await response.json()) as { messages_unacknowledged?: unknown };
      return typeof body.messages_unacknowledged === 'number' ? body.messages_unacknowledged : null;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The virtual host named by an amqp(s):// URL's path: "/" when there is none (as amqplib reads it). */
export function vhostOf(amqpUrl: string): string {
  const path = new URL(amqpUrl).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}
