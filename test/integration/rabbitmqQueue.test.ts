import { connect } from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ATTEMPT_HEADER, DEAD_LETTER_REASON_HEADER } from '../../src/adapters/rabbitmq/batchMessages';
import { openRabbitBatchQueue, type RabbitBatchQueue, type RabbitQueueOptions } from '../../src/adapters/rabbitmq/rabbitBatchQueue';
import { allQueues } from '../../src/adapters/rabbitmq/topology';
import type { BatchConsumer, Delivery, QueueDepth, QueueRetry } from '../../src/queue/batchQueue';
import type { BatchMessage } from '../../src/types/entities';
import { makeBatch } from '../support/fixtures';
import { useRabbitQueues } from '../support/rabbitQueues';
import { describeWithServices, services } from '../support/services';
import { letOtherWorkRun, waitFor } from '../support/waitFor';

/**
 * What the RabbitMQ adapter does beyond the port's contract, against the real broker: the delay
 * queues, the dead letters, the message format, depth by state, and the faults it must survive
 * (a consumer that dies, a connection the broker closes, publishing during an outage).
 */
describeWithServices('RabbitMQ batch queue', ['rabbitmq'], () => {
  const rabbit = useRabbitQueues('rabbit');

  /** A fresh adapter on this test's queue; its log lines land in `lines`. */
  async function open(retry: QueueRetry = { backoffMs: () => 200 }, options: Partial<RabbitQueueOptions> & { management?: boolean } = {}) {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const queue = await openRabbitBatchQueue(
      {
        rabbitmqUrl: services.rabbitmqUrl!,
        rabbitmqManagementUrl: options.management === false ? null : (services.rabbitmqManagementUrl ?? null),
        rabbitmqQueue: rabbit.name,
      },
      { retry, logger, ...options },
    );
    return { queue: rabbit.adopt(queue), lines };
  }

  const consume = (queue: RabbitBatchQueue, consumer: BatchConsumer, concurrency = 1) => rabbit.consume(queue, consumer, { concurrency });

  const gate = rabbit.gate;

  /** Publishes raw bytes straight to a queue, as a foreign producer could. */
  async function publishRaw(queue: string, content: Buffer): Promise<void> {
    const channel = await rabbit.raw.createConfirmChannel();
    channel.sendToQueue(queue, content, { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
  }

  /** Every message of `queue`, taken off it. */
  async function drain(queue: string) {
    const channel = await rabbit.raw.createChannel();
    const messages = [];
    for (let message = await channel.get(queue, { noAck: true }); message; message = await channel.get(queue, { noAck: true })) messages.push(message);
    await channel.close();
    return messages;
  }

  const record = (into: { batch: BatchMessage; attempt: number; at: number }[], batch: BatchMessage, delivery: Delivery) =>
    into.push({ batch, attempt: delivery.attempt, at: Date.now() });

  describe('retries and dead letters', () => {
    it('brings a batch whose consumer threw back after its backoff, as attempt 2 and then 3', async () => {
      const { queue } = await open({ backoffMs: (attempt) => attempt * 400 });
      await queue.publish([makeBatch('action-a', 0)]);
      const received: { batch: BatchMessage; attempt: number; at: number }[] = [];
      await consume(queue, async (batch, delivery) => {
        record(received, batch, delivery);
        if (delivery.attempt < 3) throw new Error('transient');
        return 'ack';
      });
      await waitFor(() => received.length >= 3, 15_000, 'three deliveries');
      expect(received.map((r) => r.attempt)).toEqual([1, 2, 3]);
      const [first, second, third] = received.map((r) => r.at) as [number, number, number];
      expect(second - first).toBeGreaterThanOrEqual(400 - 20);
      expect(second - first).toBeLessThan(400 + 5_000);
      expect(third - second).toBeGreaterThanOrEqual(800 - 20);
      expect(third - second).toBeLessThan(800 + 5_000);
      await waitFor(async () => (await queue.depth()).delayed === 0, 5_000, 'no copy left in a delay queue');
    });

    it('does not hold a short backoff behind a longer one: they wait in different delay tiers', async () => {
      const delays = [3_000, 200]; // the first failure waits 3 s, the second 200 ms
      const { queue } = await open({ backoffMs: () => delays.shift() ?? 200 });
      await queue.publish([makeBatch('action-long', 0), makeBatch('action-short', 0)]);
      const received: { batch: BatchMessage; attempt: number; at: number }[] = [];
      await consume(queue, async (batch, delivery) => {
        record(received, batch, delivery);
        if (delivery.attempt === 1) throw new Error('transient');
        return 'ack';
      });
      await waitFor(() => received.length >= 4, 15_000, 'both batches back');
      const back = received.filter((r) => r.attempt === 2).map((r) => r.batch.actionId);
      expect(back).toEqual(['action-short', 'action-long']);
      const shortFailed = received.find((r) => r.batch.actionId === 'action-short' && r.attempt === 1)!.at;
      const shortBack = received.find((r) => r.batch.actionId === 'action-short' && r.attempt === 2)!.at;
      expect(shortBack - shortFailed).toBeLessThan(2_000);
    });

    it('hands a batch back after a pause, as the next attempt, when its retry copy cannot be published', async () => {
      let failures = 0;
      const faults = {
        beforePublish: (message: { queue: string }) => {
          if (message.queue.includes('.retry.') && failures++ === 0) throw new Error('injected publish failure');
        },
      };
      const { queue } = await open({ backoffMs: () => 200 }, { reconnect: { maxDelayMs: 500 }, faults });
      await queue.publish([makeBatch('action-a', 0)]);
      const received: { batch: BatchMessage; attempt: number; at: number }[] = [];
      const { errors } = await consume(queue, async (batch, delivery) => {
        record(received, batch, delivery);
        if (delivery.attempt === 1) throw new Error('transient');
        return 'ack';
      });
      await waitFor(() => received.length >= 2, 10_000, 'the batch handed back');
      expect(received.map((r) => r.attempt)).toEqual([1, 2]);
      expect(received[1]!.at - received[0]!.at).toBeGreaterThanOrEqual(500 - 20); // never a hot requeue
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/could not settle .*injected publish failure.*requeueing it in 500 ms/)]);
    });

    it('moves dead-lettered batches and malformed payloads to the dead-letter queue, reports the malformed ones, and keeps flowing', async () => {
      const { queue } = await open();
      await queue.publish([makeBatch('action-a', 0), makeBatch('action-a', 1)]);
      await publishRaw(rabbit.name, Buffer.from([0xff, 0x00, 0x13]));
      await publishRaw(rabbit.name, Buffer.from(JSON.stringify({ actionId: 'action-a', batchNo: 'seven' })));
      await queue.publish([makeBatch('action-a', 2)]);
      const received: number[] = [];
      const { errors } = await consume(queue, async (batch) => {
        received.push(batch.batchNo);
        return batch.batchNo === 0 ? 'dead-letter' : 'ack';
      });
      await waitFor(async () => received.length >= 3 && (await queue.depth()).deadLettered === 3, 10_000, 'three dead letters');
      expect(received).toEqual([0, 1, 2]);
      expect(await queue.depth()).toMatchObject({ ready: 0, delayed: 0, deadLettered: 3 });
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/malformed.*not JSON/), expect.stringMatching(/malformed.*accountId/)]);

      const deadLetters = await drain(queue.names.deadLetter);
      const reasons = deadLetters.map((m) => String(m.properties.headers?.[DEAD_LETTER_REASON_HEADER]));
      expect(reasons).toEqual(['the consumer gave up on the batch', expect.stringMatching(/^malformed: body is not JSON/), expect.stringMatching(/^malformed: accountId/)]);
      expect(JSON.parse(deadLetters[0]!.content.toString())).toEqual(makeBatch('action-a', 0));
      expect(deadLetters[0]!.properties).toMatchObject({ messageId: 'action-a:0', deliveryMode: 2, headers: expect.objectContaining({ [ATTEMPT_HEADER]: 1 }) });
    });
  });

  describe('messages and queues', () => {
    it('publishes persistent JSON with a message id and an attempt header, to durable quorum queues', async () => {
      const { queue } = await open();
      const batch = makeBatch('action-a', 3);
      await queue.publish([batch]);
      const [message] = await drain(rabbit.name);
      expect(message!.properties).toMatchObject({ contentType: 'application/json', deliveryMode: 2, messageId: 'action-a:3', headers: { [ATTEMPT_HEADER]: 1 } });
      expect(JSON.parse(message!.content.toString())).toEqual(batch);
      if (services.rabbitmqManagementUrl) {
        for (const queueName of allQueues(queue.names)) {
          expect(await management(`queues/%2F/${encodeURIComponent(queueName)}`), queueName).toMatchObject({ type: 'quorum', durable: true });
        }
      }
    });
  });

  describe('depth', () => {
    it.skipIf(!services.rabbitmqManagementUrl)('reports ready, unacked (from the management API), delayed and dead-lettered batches', async () => {
      const { queue } = await open({ backoffMs: () => 60_000 });
      await queue.publish([0, 1, 2, 3].map((i) => makeBatch('action-a', i)));
      const held = gate();
      await consume(queue, async (batch) => {
        if (batch.batchNo === 0) throw new Error('transient'); // waits a minute in a delay queue
        if (batch.batchNo === 1) return 'dead-letter';
        if (batch.batchNo === 2) await held.promise;
        return 'ack';
      });
      // The management API samples every few seconds (collect_statistics_interval): wait for it.
      await waitFor(async () => sameDepth(await queue.depth(), { ready: 1, unacked: 1, delayed: 1, deadLettered: 1 }), 20_000, 'one batch in each state');
      held.open();
      await waitFor(async () => sameDepth(await queue.depth(), { ready: 0, unacked: 0, delayed: 1, deadLettered: 1 }), 20_000, 'the held batches acknowledged');
    });

    it('reports unacked as null without the management API', async () => {
      const { queue } = await open(undefined, { management: false });
      await queue.publish([makeBatch('action-a', 0)]);
      expect(await queue.depth()).toEqual({ ready: 1, unacked: null, delayed: 0, deadLettered: 0 });
    });
  });

  describe('opening', () => {
    it('rejects when the broker stays unreachable through the first connection\'s retries', async () => {
      const started = Date.now();
      await expect(openRabbitBatchQueue(
        { rabbitmqUrl: 'amqp://guest:guest@127.0.0.1:1', rabbitmqManagementUrl: null, rabbitmqQueue: rabbit.name },
        { retry: { backoffMs: () => 200 }, logger: pino({ level: 'silent' }), reconnect: { initialDelayMs: 20, initialRetries: 2 } },
      )).rejects.toThrow(/ECONNREFUSED/);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('rejects when a queue of its names exists with other arguments', async () => {
      const channel = await rabbit.raw.createChannel();
      await channel.assertQueue(rabbit.name, { durable: true }); // a classic queue, not a quorum one
      await channel.close();
      await expect(openRabbitBatchQueue(
        { rabbitmqUrl: services.rabbitmqUrl!, rabbitmqManagementUrl: null, rabbitmqQueue: rabbit.name },
        { retry: { backoffMs: () => 200 }, logger: pino({ level: 'silent' }), reconnect: { initialRetries: 0 } },
      )).rejects.toThrow(/PRECONDITION_FAILED/);
    });
  });

  describe('faults', () => {
    it('gives a batch held by a consumer whose connection closed to another subscription, as the next attempt', async () => {
      const { queue } = await open();
      await queue.publish([makeBatch('action-a', 0)]);
      const dying = await connect(services.rabbitmqUrl!);
      const channel = await dying.createChannel();
      await new Promise<void>((resolve) => void channel.consume(rabbit.name, () => resolve(), { noAck: false }));
      await dying.close(); // with the delivery unacked: the broker puts it back

      const received: { batch: BatchMessage; attempt: number; at: number }[] = [];
      await consume(queue, async (batch, delivery) => {
        record(received, batch, delivery);
        return 'ack';
      });
      await waitFor(async () => received.length >= 1 && (await queue.depth()).ready === 0, 10_000, 'the batch redelivered');
      expect(received.map((r) => [r.batch, r.attempt])).toEqual([[makeBatch('action-a', 0), 2]]);
    });

    it.skipIf(!services.rabbitmqManagementUrl)('abandons the deliveries of a connection the broker closed: another subscription gets them as the next attempt, and the late result is never acked', async () => {
      const a = await open(undefined, { connectionName: `${rabbit.name} a` });
      const b = await open(undefined, { connectionName: `${rabbit.name} b` });
      const connectionsOfA = await listedConnections(`${rabbit.name} a`);
      await a.queue.publish([makeBatch('action-a', 0)]);
      const held = gate();
      const byA: { batch: BatchMessage; attempt: number; at: number }[] = [];
      const { errors: errorsOfA } = await consume(a.queue, async (batch, delivery) => {
        record(byA, batch, delivery);
        if (byA.length === 1) await held.promise;
        return 'ack';
      });
      await waitFor(() => byA.length === 1, 5_000, 'the batch held by subscription a');
      const byB: { batch: BatchMessage; attempt: number; at: number }[] = [];
      await consume(b.queue, async (batch, delivery) => {
        record(byB, batch, delivery);
        return 'ack';
      });

      await closeConnections(connectionsOfA);
      await waitFor(() => byB.length === 1, 10_000, 'the batch redelivered to subscription b');
      expect(byB[0]!.attempt).toBe(2);
      held.open(); // a's consumer finishes on a dead channel: nothing is acked, nothing throws
      await waitFor(() => errorsOfA.some((e) => /consumer channel .* closed/.test(e.message)), 5_000, 'a reported its lost channel');
      await waitFor(async () => (await b.queue.depth()).ready === 0, 5_000, 'the queue empty');
      await letOtherWorkRun(300);
      expect(byA).toHaveLength(1);
      expect(byB).toHaveLength(1);
    });

    it.skipIf(!services.rabbitmqManagementUrl)('resumes consuming by itself after the broker closed its connection, with the same concurrency, losing nothing', async () => {
      const { queue, lines } = await open(undefined, { connectionName: rabbit.name });
      const connections = await listedConnections(rabbit.name);
      const total = 40;
      await queue.publish(Array.from({ length: total }, (_, i) => makeBatch('action-a', i)));
      const received: { batch: BatchMessage; attempt: number; at: number }[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      const { errors } = await consume(queue, async (batch, delivery) => {
        record(received, batch, delivery);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await sleep(40);
        inFlight--;
        return 'ack';
      }, 2);
      await waitFor(() => received.length >= 6, 5_000, 'consumption under way');
      await closeConnections(connections);

      await waitFor(async () => distinct(received) === total && (await queue.depth()).ready === 0, 20_000, 'every batch consumed');
      expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['RabbitMQ connection lost; reconnecting', 'RabbitMQ connection re-established; topology declared again']));
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/consumer channel .* closed .*CONNECTION_FORCED/)]);
      expect(maxInFlight).toBe(2);
      // A batch seen twice was in flight when the connection closed: its second delivery is the next attempt.
      for (let batchNo = 0; batchNo < total; batchNo++) {
        const attempts = received.filter((r) => r.batch.batchNo === batchNo).map((r) => r.attempt);
        expect(attempts, `batch ${batchNo}`).toEqual(attempts.map((_, i) => i + 1));
      }

      await queue.publish([makeBatch('action-b', 0)]);
      await waitFor(() => received.some((r) => r.batch.actionId === 'action-b'), 5_000, 'a batch published after the reconnection');
    });

    it.skipIf(!services.rabbitmqManagementUrl)('lets a publish made during an outage wait for the reconnection', async () => {
      const { queue, lines } = await open(undefined, { connectionName: rabbit.name, reconnect: { initialDelayMs: 1_000 } });
      await closeConnections(await listedConnections(rabbit.name));
      await waitFor(() => lines.some((l) => l.msg === 'RabbitMQ connection lost; reconnecting'), 5_000, 'the loss noticed');
      const started = Date.now();
      await queue.publish([makeBatch('action-a', 0)]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300); // the first retry waits 1 s ± 20%
      expect(lines.map((l) => l.msg)).toContain('RabbitMQ connection re-established; topology declared again');
      expect((await queue.depth()).ready).toBe(1);
    });

    it.skipIf(!services.rabbitmqManagementUrl)('rejects a publish and a depth read once an outage outlasts outageTimeoutMs, and closes during an outage', async () => {
      const { queue, lines } = await open(undefined, { connectionName: rabbit.name, reconnect: { initialDelayMs: 5_000, maxDelayMs: 5_000 }, outageTimeoutMs: 300 });
      await closeConnections(await listedConnections(rabbit.name));
      await waitFor(() => lines.some((l) => l.msg === 'RabbitMQ connection lost; reconnecting'), 5_000, 'the loss noticed');
      await expect(queue.publish([makeBatch('action-a', 0)])).rejects.toThrow(/timed out after 300 ms/);
      await expect(queue.depth()).rejects.toThrow(/timed out after 300 ms/);
      await queue.close(); // cancels the pending reconnection: the file's leak check sees no timer or socket
      await expect(queue.publish([makeBatch('action-a', 0)])).rejects.toThrow(/closed/);
    });
  });
});

function sameDepth(actual: QueueDepth, expected: QueueDepth): boolean {
  return (Object.keys(expected) as (keyof QueueDepth)[]).every((key) => actual[key] === expected[key]);
}

function distinct(received: { batch: BatchMessage }[]): number {
  return new Set(received.map((r) => `${r.batch.actionId}:${r.batch.batchNo}`)).size;
}

/** A call to the management API (no keep-alive: the leak check counts idle sockets); JSON back for a GET. */
async function management(path: string, method: 'GET' | 'DELETE' = 'GET'): Promise<unknown> {
  const url = new URL(services.rabbitmqManagementUrl!);
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  const response = await fetch(`${url.protocol}//${url.host}/api/${path}`, { method, headers: { authorization, connection: 'close', 'x-reason': 'test' } });
  expect(response.ok, `${method} ${path}: ${response.status}`).toBe(true);
  return method === 'GET' ? response.json() : response.body?.cancel();
}

/**
 * The broker's names of the connections whose client named them `connectionName`. The API lists
 * a new connection only after its next statistics sample (up to 5 s), so this polls.
 */
async function listedConnections(connectionName: string): Promise<string[]> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(200)) {
    const all = (await management('connections?columns=name,client_properties')) as { name: string; client_properties?: { connection_name?: string } }[];
    const names = all.filter((c) => c.client_properties?.connection_name === connectionName).map((c) => c.name);
    if (names.length > 0) return names;
  }
  throw new Error(`connection ${connectionName} never listed by the management API`);
}

/** Closes connections from the broker's side (320 CONNECTION_FORCED), as an operator or a failover would. */
async function closeConnections(names: string[]): Promise<void> {
  for (const connection of names) await management(`connections/${encodeURIComponent(connection)}`, 'DELETE');
}

