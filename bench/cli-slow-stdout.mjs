#!/usr/bin/env node
// The CLI under a slow stdout: `websocketstream --binary URL | slow-reader`.
//
// A local server floods --total-mib (default 256) MiB as 64 KiB binary messages; the CLI
// (dist/cli.js, run `npm run build` first) writes them to its stdout, a pipe that this script
// reads at --rate-mib (default 10) MiB/s. With backpressure end to end the CLI stops reading its
// socket while the pipe is full, so its RSS stays flat; without it, the CLI would hold the backlog.
// The CLI's RSS is sampled from /proc every 100 ms.
//
//   node bench/cli-slow-stdout.mjs [--total-mib 256] [--rate-mib 10] [--node PATH]
//
// Prints one JSON line and a table.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MiB, createThrottle, round1, toMiB } from './lib/common.mjs';
import { startFloodServer } from './lib/flood-server.mjs';

const { values } = parseArgs({
  options: {
    'total-mib': { type: 'string', default: '256' },
    'rate-mib': { type: 'string', default: '10' },
    node: { type: 'string', default: process.execPath },
  },
});
const totalBytes = Number(values['total-mib']) * MiB;
const rate = Number(values['rate-mib']) * MiB;

const rssOf = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

const server = await startFloodServer({ totalBytes });
const cli = spawn(values.node, [fileURLToPath(new URL('../dist/cli.js', import.meta.url)), '--binary', server.url], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const samples = [];
let baseline = 0;
const sampler = setInterval(() => {
  try {
    samples.push(rssOf(cli.pid));
  } catch {
    // exited
  }
}, 100);

const throttle = createThrottle(rate);
let received = 0;
const started = performance.now();
for await (const chunk of cli.stdout) {
  if (received === 0) baseline = rssOf(cli.pid);
  received += chunk.length;
  await throttle.take(chunk.length);
}
const seconds = (performance.now() - started) / 1000;
const [status] = await new Promise((resolve) => (cli.exitCode !== null ? resolve([cli.exitCode]) : cli.once('exit', (...args) => resolve(args))));
clearInterval(sampler);
cli.stdin.end();
await server.close();

const peak = Math.max(...samples);
const result = {
  node: values.node === process.execPath ? process.version : values.node,
  totalMiB: round1(toMiB(totalBytes)),
  receivedMiB: round1(toMiB(received)),
  rateMiBps: round1(toMiB(received) / seconds),
  exitStatus: status,
  baselineRssMiB: round1(toMiB(baseline)),
  peakRssMiB: round1(toMiB(peak)),
  peakGrowthMiB: round1(toMiB(peak - baseline)),
  // RSS at each quarter of the run: flat means these stay near the first one.
  quarterRssMiB: [0.25, 0.5, 0.75, 1].map((q) => round1(toMiB(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? 0))),
};
console.log(JSON.stringify(result));
console.log('| flood | read rate | CLI RSS at first byte | CLI peak RSS | growth | exit |');
console.log('| --- | --- | --- | --- | --- | --- |');
console.log(`| ${result.receivedMiB} MiB | ${result.rateMiBps} MiB/s | ${result.baselineRssMiB} MiB | ${result.peakRssMiB} MiB | +${result.peakGrowthMiB} MiB | ${status} |`);
if (received !== totalBytes || status !== 0) process.exitCode = 1;
