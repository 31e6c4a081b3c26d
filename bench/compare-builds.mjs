#!/usr/bin/env node
// Before/after in one session: the suite's client workloads run from two built trees (another
// checkout's bench/lib/suite-client.mjs and dist/, and this one), against one bench/lib/suite-server.mjs,
// the two interleaved within every run and their order flipped from run to run; medians and ratios.
// An older tree from before bench/lib/ existed has its client at bench/suite-client.mjs: used then.
//
//   git archive <commit> | tar -x -C /tmp/old && ln -s "$PWD/node_modules" /tmp/old/node_modules
//   (cd /tmp/old && npx tsup) && npm run build
//   node bench/compare-builds.mjs /tmp/old [runs=3] [peers=ours,ours-ws] [scale=0.5] [kinds=s2c,c2s,echo]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { median } from './lib/common.mjs';

const [beforeTree, runsArg = '3', peersArg = 'ours,ours-ws', scaleArg = '0.5', kindsArg = 's2c,c2s,echo'] = process.argv.slice(2);
if (beforeTree === undefined) throw new Error('usage: node bench/compare-builds.mjs <before-tree> [runs] [peers] [scale] [kinds]');
const trees = { before: beforeTree, after: fileURLToPath(new URL('..', import.meta.url)) };
/** The suite client of `tree`: bench/lib/ since the split, bench/ in older checkouts. */
const clientOf = (tree) => [`${tree}/bench/lib/suite-client.mjs`, `${tree}/bench/suite-client.mjs`].find((path) => existsSync(path));
const clients = { before: clientOf(trees.before), after: clientOf(trees.after) };
if (clients.before === undefined) throw new Error(`no bench/lib/suite-client.mjs or bench/suite-client.mjs in ${beforeTree}`);
const runs = Number(runsArg);
const scale = Number(scaleArg);
const kinds = new Set(kindsArg.split(','));
const COUNTS = { s2c: { 16: 500_000, 1024: 250_000, 65536: 8192, 1048576: 512 }, c2s: { 16: 100_000, 1024: 50_000, 65536: 4096, 1048576: 256 } };
const list = [];
for (const kind of ['s2c', 'c2s']) {
  if (!kinds.has(kind)) continue;
  for (const size of [16, 1024, 65536, 1048576]) list.push({ id: `${kind} ${size}`, kind, size, count: Math.ceil(COUNTS[kind][size] * scale) });
}
if (kinds.has('echo')) list.push({ id: 'echo 32 B', kind: 'echo', rounds: 3000 });

const server = fork(fileURLToPath(new URL('./lib/suite-server.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const [ports] = await once(server, 'message');
const results = {};
for (let run = 0; run < runs; run++) {
  for (const peer of peersArg.split(',')) {
    for (const tree of run % 2 === 0 ? ['before', 'after'] : ['after', 'before']) {
      const args = [peer, `ws://127.0.0.1:${ports.wsPort}`, String(ports.rawPort), JSON.stringify(list)];
      const child = fork(clients[tree], args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (message) => {
        if (message.type !== 'result' || message.result.error) return;
        const w = list.find((x) => x.id === message.id);
        // MB/s of payload; for echo the p50 round trip in µs (lower is better).
        const value = w.kind === 'echo' ? message.result.p50Us : (w.size * w.count) / 1e6 / (message.result.ms / 1000);
        (results[`${peer} ${message.id}`] ??= { before: [], after: [] })[tree].push(value);
      });
      await once(child, 'exit');
    }
  }
}
server.kill();
console.log('workload | before | after | after/before   (MB/s; echo: p50 µs, lower is better) [every run]');
for (const [id, { before, after }] of Object.entries(results)) {
  const b = median(before);
  const a = median(after);
  const all = (values) => values.map((v) => v.toFixed(0)).join(',');
  console.log(`${id} | ${b.toFixed(1)} | ${a.toFixed(1)} | ${(a / b).toFixed(3)}   [${all(before)}] [${all(after)}]`);
}
