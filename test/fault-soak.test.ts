// A short fault soak (bench/fault-soak.mjs runs the long one): clients against our serve() server
// through a relay that resets, half-closes, stalls and truncates connections at seeded random
// points. The server stays up, survivors get every echo in order, nothing goes unhandled, and the
// heap comes back to its baseline once every connection has ended.
import { describe, expect, it } from 'vitest';
import * as lib from '../src/index.js';
import { runFaultSoak } from '../bench/lib/fault-soak.mjs';
import { gc } from './helpers/memory.js';

describe('fault soak', () => {
  it('60 clients through a faulty relay: server up, survivors complete and in order, no leak', async () => {
    const result = await runFaultSoak(lib, { clients: 60, messages: 20, seed: 7, gc, timeoutMs: 20_000 });
    expect(Object.values(result.faults).reduce((a, b) => a + b, 0)).toBe(60);
    expect(result.faults.none).toBeLessThan(60); // faults were injected
    expect(result.problems).toEqual([]);
    expect(result.serverAlive).toBe(true);
    expect(result.outcome.outOfOrder).toBe(0);
    expect(result.serverOrder.outOfOrder).toBe(0);
    expect(result.outcome.incompleteWithoutError).toBe(0);
    expect(result.outcome.complete).toBeGreaterThan(0);
    expect(result.heapGrowthMiB).toBeLessThan(4);
  }, 40_000);
});
