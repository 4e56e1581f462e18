import { randomUUID } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../observability/logger';
import { openCreateStores } from '../../platform';
import { crashHooks } from '../../processing/crashPoints';
import { lowerThreadPriority } from '../../processing/threadPriority';
import type { CreateDeps } from '../createBulkAction';
import { runCreate } from '../createRequest';
import { publishUnpublished, startOutboxSweeper } from '../outbox';
import type { RequestRuleViolation } from '../../handlers/BaseEntityHandler';
import type { FieldUpdates } from '../../types/entities';
import type { RateDecision, RateLimiter } from '../rateLimiter';
import type { RequestSchemas } from '../validateRequest';
import { fromThreadError, toThreadError, type CreateThreadData, type FromCreateThread, type ToCreateThread } from './messages';

/**
 * The create thread: runs every create of the process (parse, validate, hash, plan, store, publish)
 * and the outbox sweeper, on stores of its own, so the synchronous and CPU-heavy parts (SQLite
 * writes that wait for other writers, a million IDs hashed and planned) never run on the event
 * loop that answers HTTP. Rate-limit decisions are asked of the API thread, which owns the
 * process's one limiter (the in-memory one in embedded mode must be one instance), and so are
 * request-level rules, which are handler code (the handlers live there; a registry given to
 * buildPlatform cannot cross to a thread).
 */
const port = parentPort!;
const { config, schemas, writeLockBuffer, sweepOutbox } = workerData as CreateThreadData;
const logger = createLogger(config.logLevel).child({ thread: 'create' });
lowerThreadPriority(config.backgroundThreadNice, logger);
const send = (message: FromCreateThread) => port.postMessage(message);

/** Questions waiting for the API thread's answer, by message id. */
const pendingAsks = new Map<number, { resolve(answer: never): void; reject(error: Error): void }>();
let nextAskId = 0;
function askApiThread<T>(message: (id: number) => FromCreateThread): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const id = nextAskId++;
    pendingAsks.set(id, { resolve: resolve as (answer: never) => void, reject });
    send(message(id));
  });
}

const rateLimiter: RateLimiter = {
  hit: (key, at) => askApiThread<RateDecision>((id) => ({ type: 'rate-hit', id, key, at })),
};

/** The schemas as data, with each declared request-level rule as a question to the API thread. */
const handlers: RequestSchemas = Object.fromEntries(
  Object.entries(schemas).map(([name, schema]) => [
    name,
    schema.hasRequestRule
      ? {
          ...schema,
          validateFieldsToUpdate: (fieldsToUpdate: Readonly<FieldUpdates>) =>
            askApiThread<RequestRuleViolation | null>((id) => ({ type: 'rule-check', id, entityType: name, fieldsToUpdate })),
        }
      : schema,
  ]),
);

const stores = await openCreateStores(config, writeLockBuffer, logger);
const deps: CreateDeps = {
  jobStore: stores.jobStore,
  queue: stores.queue,
  rateLimiter,
  handlers,
  logger,
  config,
  now: Date.now,
  newId: randomUUID,
  faults: crashHooks(config.faultCrashAt),
};
const sweeper = sweepOutbox ? startOutboxSweeper(deps, config.outbox) : null;

port.on('message', (message: ToCreateThread) => {
  switch (message.type) {
    case 'create':
      runCreate(deps, message.request).then(
        (result) => send({ type: 'created', id: message.id, result }),
        (thrown: unknown) => send({ type: 'failed', id: message.id, error: toThreadError(thrown) }),
      );
      return;
    case 'rate-decision':
    case 'rule-result':
    case 'ask-failed': {
      const pending = pendingAsks.get(message.id);
      pendingAsks.delete(message.id);
      if (message.type === 'rate-decision') pending?.resolve(message.decision as never);
      else if (message.type === 'rule-result') pending?.resolve(message.violation as never);
      else pending?.reject(fromThreadError(message.error));
      return;
    }
    case 'sweep':
      (sweeper ? sweeper.sweep() : publishUnpublished(deps, config.outbox.graceMs)).then(
        (published) => send({ type: 'swept', id: message.id, published }),
        (thrown: unknown) => send({ type: 'sweep-failed', id: message.id, error: toThreadError(thrown) }),
      );
      return;
    case 'stop':
      void stop();
      return;
  }
});

/** Finishes the sweeper's pass, closes the stores, says so, and lets the thread end. */
async function stop(): Promise<void> {
  await sweeper?.stop();
  await stores.close();
  send({ type: 'stopped' });
  port.close();
}

send({ type: 'ready' });
