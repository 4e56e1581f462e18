import { describe, expect, it } from 'vitest';
import { addBusyInterval, busyMs, NO_BUSY_TIME, type BusyTime } from '../../src/store/busyTime';

/** Folds [start, end] intervals, in the order given, into a processing time (ms). */
function fold(intervals: [number, number][]): number {
  return busyMs(intervals.reduce<BusyTime>((state, [start, end]) => addBusyInterval(state, start, end), NO_BUSY_TIME));
}

describe('processing time: the union of batch intervals', () => {
  it('is 0 before any batch, and a batch\'s own length after one', () => {
    expect(busyMs(NO_BUSY_TIME)).toBe(0);
    expect(fold([[100, 130]])).toBe(30);
  });

  it('counts overlapping batches once, whichever reports first', () => {
    expect(fold([[100, 130], [110, 150]])).toBe(50);
    expect(fold([[110, 150], [100, 130]])).toBe(50);
    expect(fold([[100, 200], [120, 130]])).toBe(100);
  });

  it('leaves out the gaps between batches (downtime, backoff)', () => {
    expect(fold([[100, 130], [10_000, 10_020], [10_010, 10_040]])).toBe(70);
  });

  it('counts a batch that reports after a later span on its own', () => {
    expect(fold([[100, 130], [10_000, 10_020], [200, 210]])).toBe(60);
  });

  it('treats an interval that ends before it starts as empty', () => {
    expect(fold([[100, 130], [140, 135]])).toBe(30);
  });
});
