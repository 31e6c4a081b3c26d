#!/usr/bin/env node
// Fault soak: 200 clients against our serve() echo server through a fault-injecting TCP relay
// (resets, half-closes, stalls, truncations; seeded). Prints a table and the JSON.
//
//   npm run bench:fault-soak    (= npm run build && node --expose-gc bench/fault-soak.mjs)
//   node --expose-gc bench/fault-soak.mjs [--clients 200] [--messages 50] [--seed 1] [--runs 3]

import { parseArgs } from 'node:util';
import * as lib from '../dist/index.js';
import { runFaultSoak } from './lib/fault-soak.mjs';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    messages: { type: 'string', default: '50' },
    seed: { type: 'string', default: '1' },
    runs: { type: 'string', default: '3' },
  },
});
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc (the heap figures need a forced GC)');
  process.exit(2);
}
const results = [];
for (let run = 0; run < Number(values.runs); run++) {
  const result = await runFaultSoak(lib, {
    clients: Number(values.clients),
    messages: Number(values.messages),
    seed: Number(values.seed) + run,
    gc: globalThis.gc,
  });
  results.push(result);
  const f = result.faults;
  console.log(
    `seed ${result.seed}: ${result.clients} clients (${Object.entries(f).map(([k, v]) => `${k} ${v}`).join(', ')}) in ${result.elapsedMs} ms; ` +
    `complete ${result.outcome.complete}, failed ${result.outcome.failed}, incomplete-without-error ${result.outcome.incompleteWithoutError}, ` +
    `out of order ${result.outcome.outOfOrder} (client) / ${result.serverOrder.outOfOrder} (server); server alive ${result.serverAlive}; ` +
    `problems ${result.problems.length}; heap ${result.heapBeforeMiB.toFixed(1)} -> ${result.heapAfterMiB.toFixed(1)} MiB ` +
    `(${result.heapGrowthMiB >= 0 ? '+' : ''}${result.heapGrowthMiB.toFixed(2)}); peak RSS ${result.peakRssMiB.toFixed(0)} MiB`,
  );
  for (const problem of result.problems) console.log(`  ${problem}`);
}
console.log(JSON.stringify(results, null, 2));
const bad = results.some((r) => !r.serverAlive || r.problems.length > 0 || r.outcome.outOfOrder > 0 || r.serverOrder.outOfOrder > 0 ||
  r.outcome.incompleteWithoutError > 0 || r.heapGrowthMiB > 4);
process.exit(bad ? 1 : 0);
