import { Worker } from 'node:worker_threads';
import { releaseWriteLockOf } from '../../adapters/sqlite/writeLock';
import { ApiError } from '../../errors';
import { handlerFor } from '../../handlers/index';
import type { Platform } from '../../platform';
import type { CreateResult } from '../createBulkAction';
import type { CreateRunner, RawCreateRequest } from '../createRequest';
import { frozenCopy, requestSchemasOf, violationOf } from '../validateRequest';
import { fromThreadError, toThreadError, transferable, type CreateThreadData, type FromCreateThread, type ToCreateThread } from './messages';

const THREAD_ENTRY = new URL('./threadEntry.mjs', import.meta.url);
/** A thread that dies is replaced at once; if the replacement dies too, after this, doubled for each further one, up to the maximum (ms). */
const RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 5000;
/** How long `stop` waits by default for the thread to close its stores before it ends it (ms). */
const STOP_TIMEOUT_MS = 10_000;

export interface CreateThreadOptions {
  /** Run the outbox sweeper in the thread, on OUTBOX_SWEEP_INTERVAL_MS (a server's API does). */
  sweepOutbox: boolean;
  /** Tests: called with every thread started, e.g. to end one as a crash would. */
  onThreadStart?: (worker: Worker) => void;
}

/** The creates of a process, run in the create thread; see threadMain.ts for what runs there. */
export interface CreateThread extends CreateRunner {
  /** One outbox sweeper pass, in the thread; resolves to the number of actions it published. */
  sweep(): Promise<number>;
  /**
   * Stops the sweeper, closes the thread's stores and ends the thread, terminating it after
   * `timeoutMs` (default 10 s) if it has not ended by then. Creates still running get 503 CREATE_INTERRUPTED.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

type Pending = { resolve(value: never): void; reject(error: Error): void };

/** One thread, from its start to its exit, and what was asked of it. */
interface Generation {
  worker: Worker;
  /** Resolves when the thread has opened its stores; rejects if it dies first. */
  ready: Promise<void>;
  alive: boolean;
  pending: Map<number, Pending>;
}

/**
 * Starts the create thread and resolves once it is ready (its stores are open); rejects with the
 * thread's error if it cannot start (say, MongoDB unreachable). A thread that dies later (out of
 * memory, a native crash) is replaced at once, and the process's SQLite write lock freed if it held
 * it: the creates it was running are answered 503
 * CREATE_INTERRUPTED with Retry-After (the action may or may not have been stored: the client
 * retries with its Idempotency-Key; a stored one is published by the outbox sweeper), and creates
 * that arrive meanwhile wait for the new thread, or get 503 SERVER_BUSY if it fails to start
 * (each failed start in a row doubles the pause before the next, up to 5 s).
 */
export async function startCreateThread(
  platform: Pick<Platform, 'config' | 'handlers' | 'writeLockBuffer' | 'rateLimiter' | 'logger'>,
  options: CreateThreadOptions,
): Promise<CreateThread> {
  const { logger } = platform;
  const data: CreateThreadData = {
    config: platform.config,
    schemas: requestSchemasOf(platform.handlers),
    writeLockBuffer: platform.writeLockBuffer,
    sweepOutbox: options.sweepOutbox,
  };
  let nextId = 0;
  let stopping = false;
  let failedStarts = 0;
  let restartTimer: NodeJS.Timeout | null = null;
  /** The thread running now (ready or starting), if any. */
  let live: Generation | null = null;

  const spawn = (): Generation => {
    const worker = new Worker(THREAD_ENTRY, { workerData: data });
    const generation: Generation = { worker, ready: Promise.resolve(), alive: true, pending: new Map() };
    let startError: Error | null = null;
    generation.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromCreateThread) => {
        if (message.type === 'ready') {
          failedStarts = 0;
          resolve();
        } else {
          answer(generation, message);
        }
      });
      worker.on('error', (error) => {
        startError = error;
        logger.error({ err: error, threadId }, 'create thread failed');
      });
      worker.on('exit', (code) => {
        generation.alive = false;
        // SQLite rolled its open transaction back when its connection went with it; the process's write lock must follow.
        if (data.writeLockBuffer && releaseWriteLockOf(data.writeLockBuffer, threadId)) {
          logger.error({ threadId }, 'create thread exited holding the SQLite write lock; released it');
        }
        reject(startError ?? new Error(`the create thread exited with code ${code} before it was ready`));
        const interrupted = generation.pending.size;
        for (const pending of generation.pending.values()) pending.reject(interruptedError());
        generation.pending.clear();
        if (stopping || live !== generation) return;
        failedStarts++;
        const delay = failedStarts === 1 ? 0 : Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** (failedStarts - 2));
        logger.error({ threadId, code, interrupted, restartInMs: delay }, 'create thread exited; starting another');
        current = launch(delay);
      });
    });
    const threadId = worker.threadId;
    live = generation;
    options.onThreadStart?.(worker);
    return generation;
  };

  /** A thread started after `delayMs`, once it is ready. */
  const launch = (delayMs: number): Promise<Generation> => {
    const started = new Promise<Generation>((resolve, reject) => {
      const start = () => {
        restartTimer = null;
        if (stopping) return reject(busyError('The server is stopping.'));
        const generation = spawn();
        generation.ready.then(() => resolve(generation), reject);
      };
      if (delayMs === 0) start();
      else restartTimer = setTimeout(start, delayMs);
    });
    started.catch(() => undefined); // answered to whoever awaits it (busyError below), not unhandled here
    return started;
  };

  /** What the thread answered to a request of ours. */
  const answer = (generation: Generation, message: Exclude<FromCreateThread, { type: 'ready' }>) => {
    switch (message.type) {
      case 'created':
      case 'swept':
        settle(generation, message.id)?.resolve((message.type === 'created' ? message.result : message.published) as never);
        return;
      case 'failed':
      case 'sweep-failed':
        settle(generation, message.id)?.reject(fromThreadError(message.error));
        return;
      case 'rate-hit':
        // Read at each hit: the process has one limiter, and this is it.
        platform.rateLimiter.hit(message.key, message.at).then(
          (decision) => post(generation, { type: 'rate-decision', id: message.id, decision }),
          (thrown: unknown) => post(generation, { type: 'ask-failed', id: message.id, error: toThreadError(thrown) }),
        );
        return;
      case 'rule-check':
        // A few fields, a pure check: cheap enough for this thread, and only it has the handlers.
        // Judged here as checkRequestRule judges it in-process; only its three parts cross (anything
        // else on it may not be clonable).
        new Promise<unknown>((resolve) => resolve(handlerFor(platform.handlers, message.entityType)?.validateFieldsToUpdate(frozenCopy(message.fieldsToUpdate)) ?? null))
          .then((answer) => violationOf(message.entityType, answer))
          .then(
            (violation) => post(generation, { type: 'rule-result', id: message.id, violation }),
            (thrown: unknown) => post(generation, { type: 'ask-failed', id: message.id, error: toThreadError(thrown) }),
          );
        return;
      case 'stopped':
        return;
    }
  };

  let current = launch(0);
  try {
    await current;
  } catch (thrown) {
    stopping = true; // a thread that cannot start at all is the server's start-up error, not restarted
    if (restartTimer) clearTimeout(restartTimer);
    throw thrown;
  }

  const ask = async <T>(message: (id: number) => ToCreateThread, transfer: ArrayBuffer[] = []): Promise<T> => {
    if (stopping) throw busyError('The server is stopping.');
    let generation: Generation;
    try {
      generation = await current;
    } catch {
      throw busyError('The create thread is restarting; retry after Retry-After seconds.');
    }
    if (!generation.alive) throw busyError('The create thread is restarting; retry after Retry-After seconds.'); // died since it was ready: nothing was sent
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      generation.pending.set(id, { resolve: resolve as (value: never) => void, reject });
      generation.worker.postMessage(message(id), transfer);
    });
  };

  return {
    create: (request: RawCreateRequest): Promise<CreateResult> => {
      const { bytes, transfer } = transferable(request.body);
      return ask<CreateResult>((id) => ({ type: 'create', id, request: { ...request, body: bytes } }), transfer);
    },
    sweep: () => ask<number>((id) => ({ type: 'sweep', id })),
    stop: async ({ timeoutMs = STOP_TIMEOUT_MS } = {}) => {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const generation = live;
      if (!generation?.alive) return;
      const exited = new Promise<void>((resolve) => generation.worker.once('exit', () => resolve()));
      generation.worker.postMessage({ type: 'stop' } satisfies ToCreateThread);
      const timer = setTimeout(() => void generation.worker.terminate(), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function settle(generation: Generation, id: number): Pending | undefined {
  const pending = generation.pending.get(id);
  generation.pending.delete(id);
  return pending;
}

function post(generation: Generation, message: ToCreateThread): void {
  if (generation.alive) generation.worker.postMessage(message);
}

function interruptedError(): ApiError {
  return new ApiError('CREATE_INTERRUPTED', undefined, {}, { 'Retry-After': '1' });
}

function busyError(message: string): ApiError {
  return new ApiError('SERVER_BUSY', message, { retryAfterSeconds: 1 }, { 'Retry-After': '1' });
}
