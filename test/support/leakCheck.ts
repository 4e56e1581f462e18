import { afterAll, beforeAll, expect } from 'vitest';

/**
 * Fails a test file that leaves a timer, server, socket or worker thread behind: each of those
 * would keep a real process alive or keep working after "shutdown". Runs around every test file.
 */
const WATCHED = new Set(['Timeout', 'Immediate', 'TCPServerWrap', 'TCPSocketWrap', 'MessagePort', 'Worker']);
let before: Map<string, number>;

function countWatched(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const resource of process.getActiveResourcesInfo()) {
    if (WATCHED.has(resource)) counts.set(resource, (counts.get(resource) ?? 0) + 1);
  }
  return counts;
}

beforeAll(() => {
  before = countWatched();
});

afterAll(async () => {
  // Give closed handles one turn of the event loop to go away.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const leaked = [...countWatched()].filter(([type, n]) => n > (before.get(type) ?? 0));
  expect(Object.fromEntries(leaked), 'resources left open by this test file').toEqual({});
});
