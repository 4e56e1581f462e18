import type { EntityStore, EntityWriteResult } from '../store/entityStore';

/**
 * Test-only crash points: `FAULT_CRASH_AT=<point>[:<n>]` (read once, in src/config.ts) makes the
 * process SIGKILL itself the n-th time (default: the first) this thread passes the named point, so
 * fault tests kill a worker at an exact place in the code instead of after a guessed sleep. Unset,
 * nothing is wrapped and every hook is undefined: production pays one undefined check per point.
 * SIGKILL from a worker thread ends the whole process (embedded mode loses API and workers at once,
 * as an out-of-memory kill would). Counts are per thread: each thread has its own copy of the hooks.
 *
 * The points, in the order a batch passes them (the verdict is returned to the queue adapter after
 * `batchFinished`; see docs/architecture.md, "From request to entity write"):
 * - `actionStored` (API): the action and its batch plan are stored, its batches not yet published.
 *   The outbox sweeper must publish them.
 * - `entityWritten` (worker): one entity's new values were written to the entity store; `:k`
 *   dies after the k-th entity ("mid-batch, after k of 1000"). The built-in handlers write a batch
 *   with one `updateMany`, which in SQLite is one transaction and cannot be cut in two, so while this
 *   point is armed the entity store applies `updateMany` one entity at a time (as a remote CRM with
 *   a per-record API would, or a MongoDB `updateMany` that a failure stops part-way): the crash then
 *   leaves k entities written with no outcome recorded. Only this setting changes the write path.
 * - `outcomesRecorded` (worker): the batch's outcomes are stored; it is neither counted nor acked.
 * - `batchFinished` (worker): `finishBatch` has counted the batch into the action (and completed
 *   the action, if it was the last); the queue has not been told. In this design completion happens
 *   here, before the ack, so "after the ack but before completion" cannot occur; this point and the
 *   next are the closest honest ones.
 * - `batchSettled` (worker): the queue adapter settled the delivery (SQLite: the row deleted and
 *   committed; RabbitMQ: basic.ack written to the socket, which the broker may or may not have read
 *   before the process died), before this consumer takes its next batch.
 */
export const CRASH_POINTS = ['actionStored', 'entityWritten', 'outcomesRecorded', 'batchFinished', 'batchSettled'] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

/** FAULT_CRASH_AT resolved: die the `count`-th time `point` is passed (count >= 1). */
export interface CrashSetting {
  point: CrashPoint;
  count: number;
}

/** The hooks a crash setting arms; each is undefined unless its point is the one named. */
export interface CrashHooks {
  afterActionStored?(): void;
  afterOutcomesRecorded?(): void;
  afterBatchFinished?(): void;
  afterBatchSettled?(): void;
}

/** How a crash point ends the process; tests of this module pass their own. */
export type Kill = (point: CrashPoint, passes: number) => void;

const sigkill: Kill = () => {
  process.kill(process.pid, 'SIGKILL');
};

/** Parses `<point>` or `<point>:<n>`; returns an error message instead when it is not one. */
export function parseCrashSetting(raw: string): CrashSetting | string {
  const [name, n, ...rest] = raw.split(':');
  const count = n === undefined ? 1 : Number(n);
  if (!CRASH_POINTS.includes(name as CrashPoint) || rest.length > 0 || !Number.isSafeInteger(count) || count < 1) {
    return `FAULT_CRASH_AT must be <point> or <point>:<n> (n >= 1), point one of ${CRASH_POINTS.join(', ')}; got "${raw}"`;
  }
  return { point: name as CrashPoint, count };
}

/** A counter for one point: calling it passes the point once; the `count`-th pass kills. */
function passCounter(setting: CrashSetting, kill: Kill): () => void {
  let passes = 0;
  return () => {
    passes++;
    if (passes >= setting.count) kill(setting.point, passes);
  };
}

/** The hooks of `setting` (none when it is null or names `entityWritten`, which lives in the entity store). */
export function crashHooks(setting: CrashSetting | null, kill: Kill = sigkill): CrashHooks {
  if (setting === null) return {};
  const pass = passCounter(setting, kill);
  switch (setting.point) {
    case 'actionStored':
      return { afterActionStored: pass };
    case 'outcomesRecorded':
      return { afterOutcomesRecorded: pass };
    case 'batchFinished':
      return { afterBatchFinished: pass };
    case 'batchSettled':
      return { afterBatchSettled: pass };
    case 'entityWritten':
      return {};
  }
}

/**
 * The entity store itself unless `setting` names `entityWritten`; then one whose `updateMany`
 * writes entity by entity, passing the point after each entity that was written (see above).
 */
export function withCrashOnWrite(store: EntityStore, setting: CrashSetting | null, kill: Kill = sigkill): EntityStore {
  if (setting?.point !== 'entityWritten') return store;
  const pass = passCounter(setting, kill);
  return {
    getMany: store.getMany.bind(store),
    get: store.get.bind(store),
    updateMany: async (entityType, accountId, ids, updates, at, writer) => {
      const result: EntityWriteResult = { written: [], superseded: [], missing: [] };
      for (const id of new Set(ids)) {
        const one = await store.updateMany(entityType, accountId, [id], updates, at, writer);
        result.written.push(...one.written);
        result.superseded.push(...one.superseded);
        result.missing.push(...one.missing);
        if (one.written.length > 0) pass();
      }
      return result;
    },
    insertMany: store.insertMany.bind(store),
    count: store.count.bind(store),
    close: store.close.bind(store),
  };
}
