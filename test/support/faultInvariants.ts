import { expect } from 'vitest';
import { until } from './serverProcess';
import { authHeader } from './apiHelpers';

/**
 * The invariants every fault test checks after its fault (issue 6, "Faults"), over HTTP, the way
 * an operator would see them:
 * 1. the action reaches a terminal state on its own within a stated bound;
 * 2. every submitted entity has exactly one outcome (the logs, paged, hold the submitted IDs once
 *    per position: a repeated ID has one outcome per time it was submitted);
 * 3. succeeded + failed + skipped = total, and each counter equals the count of its status in the
 *    logs (and errorsByCode equals the codes in the logs);
 * 4. the SUCCESS rows were really written (the entity carries the new value);
 * 5. no entity of another account changed (`expectAccountUntouched`).
 */

export interface ActionStats {
  status: string;
  total: number;
  processed: number;
  succeeded: number;
  failed: number;
  skipped: number;
  errorsByCode: Record<string, number>;
}

export interface LogRow {
  entityId: string;
  status: 'SUCCESS' | 'FAILED' | 'SKIPPED';
  code: string | null;
}

export interface InvariantCheck {
  /** The API, e.g. http://127.0.0.1:3000 */
  base: string;
  actionId: string;
  /** The entityIds of the create request, in order. */
  submitted: string[];
  /** The stated bound: terminal within this many ms of `since`. */
  boundMs: number;
  /** When the bound's clock started (epoch ms): the restart, say. Default: now. */
  since?: number;
  /**
   * The entity type and the field/value the action set, to check that SUCCESS rows were written;
   * `read` reads the entities' data in one go (a deployment's entity store), else one GET each.
   */
  written?: { entityType: string; accountId: string; field: string; value: unknown; read?: (ids: string[]) => Promise<Map<string, Record<string, unknown>>> };
  /** What to print when a wait fails (the servers' output). */
  describe?: () => string;
}

export interface InvariantResult {
  stats: ActionStats;
  logs: LogRow[];
  /** From `since` to the first poll that saw the action terminal (ms). */
  msToTerminal: number;
}

const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** Waits for the action to end within the bound, then checks invariants 1-4. */
export async function expectActionInvariants(check: InvariantCheck): Promise<InvariantResult> {
  const since = check.since ?? Date.now();
  const remaining = Math.max(0, since + check.boundMs - Date.now());
  const stats = await until(
    `action ${check.actionId} terminal within ${check.boundMs} ms`,
    async () => {
      const res = await fetch(`${check.base}/api/bulk-actions/${check.actionId}/stats`, { headers: authHeader() });
      const s = (await res.json()) as ActionStats;
      return TERMINAL.includes(s.status) ? s : undefined;
    },
    remaining,
    check.describe,
  );
  const msToTerminal = Date.now() - since;
  expect(msToTerminal, 'time to terminal').toBeLessThanOrEqual(check.boundMs + 1_000); // + one poll and the request itself

  const logs = await allLogs(check.base, check.actionId);
  expect(stats.total).toBe(check.submitted.length);
  expect(logs.length, 'one outcome per submitted position').toBe(check.submitted.length);
  expect(sorted(logs.map((r) => r.entityId)), 'the outcomes are of exactly the submitted IDs').toEqual(sorted(check.submitted));

  const count = (status: LogRow['status']) => logs.filter((r) => r.status === status).length;
  expect(stats.succeeded + stats.failed + stats.skipped, 'succeeded + failed + skipped = total').toBe(stats.total);
  expect({ processed: stats.processed, succeeded: stats.succeeded, failed: stats.failed, skipped: stats.skipped }, 'counters equal the logs').toEqual({
    processed: check.submitted.length,
    succeeded: count('SUCCESS'),
    failed: count('FAILED'),
    skipped: count('SKIPPED'),
  });
  const codes: Record<string, number> = {};
  for (const r of logs) if (r.code) codes[r.code] = (codes[r.code] ?? 0) + 1;
  expect(stats.errorsByCode, 'errorsByCode equals the codes in the logs').toEqual(codes);

  if (check.written) {
    const { entityType, accountId, field, value, read } = check.written;
    const ids = [...new Set(logs.filter((r) => r.status === 'SUCCESS').map((r) => r.entityId))];
    const notWritten: string[] = [];
    if (read) {
      const stored = await read(ids);
      notWritten.push(...ids.filter((id) => stored.get(id)?.[field] !== value));
    } else {
      await forEachLimited(ids, 8, async (id) => {
        const entity = await getEntity(check.base, entityType, accountId, id);
        if (entity?.[field] !== value) notWritten.push(id);
      });
    }
    expect(notWritten, 'entities logged SUCCESS that do not carry the new value').toEqual([]);
  }
  return { stats, logs, msToTerminal };
}

/** Every log row of an action, paged through GET /logs (1000 a page). */
export async function allLogs(base: string, actionId: string): Promise<LogRow[]> {
  const rows: LogRow[] = [];
  for (let page = 1; ; page++) {
    const res = await fetch(`${base}/api/bulk-actions/${actionId}/logs?page=${page}&limit=1000`, { headers: authHeader() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: LogRow[]; total: number };
    rows.push(...body.items);
    if (body.items.length === 0 || rows.length >= body.total) return rows;
  }
}

/**
 * Invariant 5: the other account's entities (seeded with the same IDs as the account the actions
 * ran in) all exist and were never written: updatedAt is still createdAt.
 */
export async function expectAccountUntouched(base: string, entityType: string, accountId: string, ids: string[]): Promise<void> {
  const changed: string[] = [];
  await forEachLimited(ids, 8, async (id) => {
    const entity = await getEntity(base, entityType, accountId, id);
    if (!entity || entity.updatedAt !== entity.createdAt) changed.push(id);
  });
  expect(changed, `entities of account ${accountId} that changed or vanished`).toEqual([]);
}

async function getEntity(base: string, entityType: string, accountId: string, id: string): Promise<Record<string, unknown> | null> {
  const res = await fetch(`${base}/api/entities/${entityType}/${encodeURIComponent(id)}?accountId=${encodeURIComponent(accountId)}`, { headers: authHeader() });
  if (res.status === 404) return null;
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, lane));
}

function sorted(ids: string[]): string[] {
  return [...ids].sort();
}

/**
 * One row of the fault matrix, printed as `FAULT MATRIX | scenario | mode | result | time to terminal`,
 * so a test run's output can be collected into docs/operations.md's table.
 */
export function reportFault(scenario: string, mode: string, result: string, msToTerminal: number | null): void {
  const time = msToTerminal === null ? '-' : `${(msToTerminal / 1000).toFixed(1)} s`;
  console.log(`FAULT MATRIX | ${scenario} | ${mode} | ${result} | ${time}`);
}
