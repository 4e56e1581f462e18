/**
 * One writer at a time across the threads of a process, handed over without sleeping.
 *
 * SQLite allows one write transaction at a time. When two connections collide, SQLite's busy
 * handler sleeps 1, 2, 5, 10... ms before retrying, so two worker threads spend more time asleep
 * than the lock is held. Threads that share this lock's buffer queue on Atomics.wait instead and
 * are woken the moment the writer finishes. Other processes (npm run seed) still rely on busy_timeout.
 */
export class WriteLock {
  private readonly state: Int32Array;
  /** Held by this thread: nested writes (a statement inside a transaction) do not wait on themselves. */
  private depth = 0;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.state = new Int32Array(buffer);
  }

  run<T>(write: () => T): T {
    if (this.depth > 0) return this.holding(write);
    while (Atomics.compareExchange(this.state, 0, 0, 1) !== 0) {
      // Woken by notify on release. The timeout re-checks in case a notify is missed; it does not
      // rescue a lock whose holder died (a thread that dies mid-write takes the process's writes with it).
      Atomics.wait(this.state, 0, 1, 100);
    }
    try {
      return this.holding(write);
    } finally {
      Atomics.store(this.state, 0, 0);
      Atomics.notify(this.state, 0, 1);
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
