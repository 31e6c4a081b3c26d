// What a test started (servers, child processes, temporary directories) is registered here and
// undone after the test: call cleanup() from afterEach.
import { withTimeout } from './timing.js';

const cleanups: Array<() => Promise<void> | void> = [];

/** Runs (in reverse order) everything the helpers registered; call it from afterEach. */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await withTimeout(Promise.resolve(fn()), 5_000, 'cleanup');
    } catch {
      // a server that refuses to close must not hide the test's own result
    }
  }
}

/** Registers something to undo after the current test. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}
