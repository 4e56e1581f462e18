/**
 * An action's processing time: the time during which some batch of it was being processed, so
 * that neither a crash's downtime nor a queue waiting out a backoff counts (GET /stats `durationMs`).
 * Each finished batch reports its delivery's interval [startedAt, finishedAt] (epoch ms) to
 * `finishBatch`, and the job store folds it into three numbers kept on the action: the length of
 * the spans already closed (`closedMs`) and the open span [`since`, `until`]. Both adapters apply
 * this one rule.
 *
 * Exact while intervals arrive in about the order they end (they do: `finishedAt` is taken just
 * before `finishBatch`), whatever their overlap: concurrent batches merge into one span, and a gap
 * (nothing running) closes it. An interval that starts before a gap and ends after it merges with
 * the open span and may recount the part of it that overlaps a closed span: at most that one
 * batch's own duration. All zeros is the state of an action no batch has finished.
 */
export interface BusyTime {
  closedMs: number;
  since: number;
  until: number;
}

export const NO_BUSY_TIME: BusyTime = { closedMs: 0, since: 0, until: 0 };

/** The state after one more processing interval. `startedAt > finishedAt` is treated as an empty interval at `finishedAt`. */
export function addBusyInterval(state: BusyTime, startedAt: number, finishedAt: number): BusyTime {
  const start = Math.min(startedAt, finishedAt);
  const end = finishedAt;
  if (state.until === 0) return { closedMs: state.closedMs, since: start, until: end };
  // After the open span, with a gap: close it and open a new one.
  if (start > state.until) return { closedMs: state.closedMs + (state.until - state.since), since: start, until: end };
  // Wholly before the open span (it reported late): counted on its own.
  if (end < state.since) return { ...state, closedMs: state.closedMs + (end - start) };
  return { closedMs: state.closedMs, since: Math.min(state.since, start), until: Math.max(state.until, end) };
}

/** Milliseconds of processing so far. */
export function busyMs(state: BusyTime): number {
  return state.closedMs + (state.until - state.since);
}
