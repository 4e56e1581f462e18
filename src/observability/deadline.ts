/**
 * `promise`, or a rejection with `${what} timed out after ${ms} ms` if it takes longer: a probe
 * (`/ready`, a scrape-time read) must answer even while a driver waits out an outage. The timer is
 * cleared either way, and a late rejection of `promise` is absorbed (never unhandled). Imports no
 * driver, so adapters use it too.
 */
export async function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
