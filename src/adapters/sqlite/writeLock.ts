import { threadId } from 'node:worker_threads';

/** A write waited longer than the lock's timeout for another thread's write. The write was not made. */
export class WriteLockTimeoutError extends Error {
  constructor(
    /** The thread that held the lock when the wait gave up (worker_threads threadId; 0 is the main thread). */
    readonly holderThreadId: number,
    readonly waitedMs: number,
  ) {
    super(`waited ${waitedMs} ms for the SQLite write lock held by thread ${holderThreadId}; the write was not made`);
    this.name = 'WriteLockTimeoutError';
  }
}

export interface WriteLockOptions {
  /** The longest `run` waits for another thread's write before it throws WriteLockTimeoutError (ms). Default 10 s. */
  timeoutMs?: number;
}

/** How long one Atomics.wait sleeps before it re-checks the deadline (ms); a release wakes it at once. */
const RECHECK_MS = 100;

/**
 * One writer at a time across the threads of a process, handed over without sleeping.
 *
 * SQLite allows one write transaction at a time. When two connections collide, SQLite's busy
 * handler sleeps 1, 2, 5, 10... ms before retrying, so two worker threads spend more time asleep
 * than the lock is held. Threads that share this lock's buffer queue on Atomics.wait instead and
 * are woken the moment the writer finishes. Other processes (npm run seed) still rely on busy_timeout.
 *
 * The buffer's one Int32 holds the owner: 0 when free, else the owner's threadId + 1. Owners matter
 * because a thread can die holding the lock (out of memory, a handler calling process.exit):
 * - whoever watches that thread (the worker pool, on its 'exit' event) calls
 *   `releaseWriteLockOf(buffer, threadId)`, which frees the lock only if the dead thread still
 *   owns it. SQLite itself rolls the dead thread's open transaction back: better-sqlite3 closes a
 *   thread's connections when the thread ends, and closing rolls back.
 * - no waiter waits forever: past `timeoutMs` a write throws WriteLockTimeoutError. That covers the
 *   one thread that cannot see an 'exit' event while it waits (the main thread is blocked in the
 *   wait), and an owner that is alive but hangs.
 * The lock only orders writers for speed; SQLite's own file lock still makes every write atomic,
 * so a lock freed from a dead owner can never let two writes interleave.
 */
export class WriteLock {
  private readonly state: Int32Array;
  private readonly me = threadId + 1;
  private readonly timeoutMs: number;
  /** Held by this thread: nested writes (a statement inside a transaction) do not wait on themselves. */
  private depth = 0;

  constructor(
    readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4),
    options: WriteLockOptions = {},
  ) {
    this.state = new Int32Array(buffer);
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Runs `write` holding the lock. Throws WriteLockTimeoutError, without running it, if the lock stays taken for `timeoutMs`. */
  run<T>(write: () => T): T {
    if (this.depth > 0) return this.holding(write);
    this.acquire();
    try {
      return this.holding(write);
    } finally {
      // Only our own hold is released: if it was taken from us meanwhile, it is someone else's now.
      Atomics.compareExchange(this.state, 0, this.me, 0);
      Atomics.notify(this.state, 0, 1);
    }
  }

  private acquire(): void {
    const started = Date.now();
    for (;;) {
      const owner = Atomics.compareExchange(this.state, 0, 0, this.me);
      if (owner === 0) return;
      const waited = Date.now() - started;
      if (waited >= this.timeoutMs) throw new WriteLockTimeoutError(owner - 1, waited);
      // Woken by notify on release; the timeout re-checks the deadline, and covers a missed notify.
      Atomics.wait(this.state, 0, owner, Math.min(RECHECK_MS, this.timeoutMs - waited));
    }
  }

  private holding<T>(write: () => T): T {
    this.depth++;
    try {
      return write();
    } finally {
      this.depth--;
    }
  }
}

/**
 * Frees the write lock in `buffer` if the thread `deadThreadId` holds it, and wakes a waiter.
 * Call it only once that thread has exited (its Worker's 'exit' event). Returns whether it held it.
 */
export function releaseWriteLockOf(buffer: SharedArrayBuffer, deadThreadId: number): boolean {
  const state = new Int32Array(buffer);
  const held = Atomics.compareExchange(state, 0, deadThreadId + 1, 0) === deadThreadId + 1;
  if (held) Atomics.notify(state, 0, 1);
  return held;
}
