#!/usr/bin/env node
// Before/after of the receive bench: bench/receive.mjs of two built trees (another checkout and
// this one), one run each per round, their order flipped from round to round so that a busy
// machine slows both alike. Every invocation measures its own floors, so each client is also given
// as a ratio to the floor measured next to it (rs-floor-owned, else rs-floor): that ratio moves
// less than msg/s when the machine's load changes. Medians over the rounds, and every round's ratio.
//
//   git archive <commit> | tar -x -C /tmp/old && ln -s "$PWD/node_modules" /tmp/old/node_modules
//   (cd /tmp/old && npx tsup) && npm run build
//   node bench/compare-receive.mjs /tmp/old [--rounds 5] [--sizes 1024] [--types text,binary]
//        [--only rs-floor-owned,ours-read] [--node /path/to/node]
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/common.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '5' },
    sizes: { type: 'string', default: '1024' },
    types: { type: 'string', default: 'text,binary' },
    only: { type: 'string', default: 'rs-floor-owned,ours-read' },
    node: { type: 'string', default: process.execPath },
  },
});
const [beforeTree] = positionals;
if (beforeTree === undefined) throw new Error('usage: node bench/compare-receive.mjs <before-tree> [--rounds N] ...');
const trees = { before: beforeTree, after: fileURLToPath(new URL('..', import.meta.url)) };
const rounds = Number(values.rounds);
if (!(Number.isInteger(rounds) && rounds > 0)) throw new Error('--rounds must be a positive integer');

/** One bench/receive.mjs run of `tree`: its per-run results (the JSON line it ends with). */
function runOnce(tree) {
  const out = execFileSync(process.execPath, [`${tree}/bench/receive.mjs`, '--runs', '1', '--sizes', values.sizes,
    '--types', values.types, '--only', values.only, '--node', values.node], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').at(-1)).results;
}

const cells = new Map(); // "size type peer" -> { before: {rate, cpu, toFloor}, after: ... }
for (let round = 0; round < rounds; round++) {
  for (const side of round % 2 === 0 ? ['before', 'after'] : ['after', 'before']) {
    process.stderr.write(`round ${round + 1}/${rounds}: ${side}\n`);
    const results = runOnce(trees[side]);
    const floors = new Map(results.filter((r) => r.type === '-').map((r) => [`${r.size} ${r.peer}`, r.rate]));
    for (const r of results) {
      if (r.type === '-') continue;
      const floor = floors.get(`${r.size} rs-floor-owned`) ?? floors.get(`${r.size} rs-floor`);
      const key = `${r.size} ${r.type} ${r.peer}`;
      if (!cells.has(key)) cells.set(key, { before: { rate: [], cpu: [], toFloor: [] }, after: { rate: [], cpu: [], toFloor: [] } });
      const cell = cells.get(key)[side];
      cell.rate.push(r.rate);
      cell.cpu.push(r.cpuMicrosPerMessage);
      if (floor !== undefined) cell.toFloor.push(r.rate / floor);
    }
  }
}

const fmt = (xs, digits) => (xs.length === 0 ? '-' : median(xs).toFixed(digits));
console.log(`## ${trees.before} (before) vs ${trees.after} (after), ${rounds} round(s), medians\n`);
console.log('| size | type | peer | msg/s before | msg/s after | CPU µs/msg before | after | / floor before | / floor after | / floor per round, after |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [key, { before, after }] of cells) {
  const [size, type, peer] = key.split(' ');
  console.log(`| ${size} | ${type} | ${peer} | ${fmt(before.rate, 0)} | ${fmt(after.rate, 0)} | ${fmt(before.cpu, 2)} | ` +
    `${fmt(after.cpu, 2)} | ${fmt(before.toFloor, 2)} | ${fmt(after.toFloor, 2)} | ${after.toFloor.map((x) => x.toFixed(2)).join(' ')} |`);
}
