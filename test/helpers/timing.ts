// Waiting in tests: one delay, one timeout (promise, ms, what), and the checks built on them.
// Every wait in a test is bounded, so a hang fails with the name of what never came.

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `promise`, or rejects with a clear message when it takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const NOT_SETTLED = Symbol('not settled');

/** What `promise` settled with within `ms`, or NOT_SETTLED: for "this must still be pending" checks. */
export async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ status: 'fulfilled'; value: T } | { status: 'rejected'; reason: unknown } | typeof NOT_SETTLED> {
  let timer: NodeJS.Timeout;
  const outcome = promise.then(
    (value) => ({ status: 'fulfilled' as const, value }),
    (reason: unknown) => ({ status: 'rejected' as const, reason }),
  );
  return Promise.race([
    outcome,
    new Promise<typeof NOT_SETTLED>((resolve) => {
      timer = setTimeout(() => resolve(NOT_SETTLED), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The rejection reason of `promise` (fails if it fulfils or takes longer than `ms`). */
export async function rejectionOf(promise: Promise<unknown>, ms = 5_000, what = 'a rejection'): Promise<unknown> {
  return withTimeout(
    promise.then(
      (value) => {
        throw new Error(`Expected ${what}, but the promise fulfilled with ${String(value)}`);
      },
      (reason: unknown) => reason,
    ),
    ms,
    what,
  );
}

/** Polls `condition` every 10 ms until it is true; fails after `ms`. */
export async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await delay(10);
  }
}
