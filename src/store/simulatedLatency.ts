import { setTimeout as sleep } from 'node:timers/promises';
import type { EntityStore } from './entityStore';

/**
 * The entity store with `ms` added to every call: stands in for a remote CRM service, where a bulk
 * call takes a few hundred milliseconds and workers are latency-bound rather than database-bound.
 * A batch's updateMany is one round trip; the per-entity path pays it once per entity.
 * Set with CRM_LATENCY_MS (benchmarks only; 0 in production means no wrapper at all).
 */
export function withSimulatedLatency(store: EntityStore, ms: number): EntityStore {
  const delayed =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await sleep(ms);
      return call(...args);
    };
  return {
    getMany: delayed(store.getMany.bind(store)),
    updateMany: delayed(store.updateMany.bind(store)),
    get: delayed(store.get.bind(store)),
    insertMany: store.insertMany.bind(store),
    count: store.count.bind(store),
    close: store.close.bind(store),
  };
}
