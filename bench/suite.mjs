#!/usr/bin/env node
// The benchmark suite: `npm run bench` (full, several minutes) or `npm run bench -- --quick`
// (under a minute). Every client peer runs in a process of its own, against one server process
// (bench/lib/suite-server.mjs), peers interleaved within each run, medians over the runs.
//
//   node bench/suite.mjs [--quick] [--runs N] [--only ours,ws,...] [--skip throughput,slow,server]
//                        [--workloads s2c,c2s,echo,pipefile] [--slow-runs N] [--node PATH] [--docs]
//
// Workloads: server->client throughput at 64 KiB and 1 MiB (small messages are measured by
// bench/receive.mjs, whose server is not the bottleneck), client->server at 16 B, 1 KiB, 64 KiB,
// 1 MiB; echo
// round trip of 32 B (p50/p99); pipeTo into a file (64 KiB messages); then the slow-consumer
// memory run (bench/slow-consumer.mjs) and the server role (bench/server-load.mjs: our server vs
// a ws server, memory per connection -> connections per GiB, echo throughput).
// Output: a table of medians and ratios to ws, bench/results/suite.json, and SVG plots in
// bench/results/ (with --docs also in docs/img/, which docs/performance.md shows).

import { execFileSync, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './lib/common.mjs';

const HERE = new URL('./', import.meta.url);
const RESULTS = new URL('./results/', import.meta.url);

const ALL_PEERS = ['ours', 'ours-forawait', 'ours-pipeto', 'ours-tuned', 'ours-ws', 'ws', 'ws-stream', 'undici-ws', 'undici-wss', 'raw'];
const LABELS = {
  ours: 'ours read()',
  'ours-forawait': 'ours for await',
  'ours-pipeto': 'ours pipeTo',
  'ours-tuned': 'ours read() tuned',
  'ours-ws': 'ours WebSocket',
  ws: 'ws',
  'ws-stream': 'ws stream',
  'undici-ws': 'undici WS',
  'undici-wss': 'undici WSS',
  raw: 'raw TCP',
};
/**
 * Node flags of a peer's process. "tuned": V8 frees dead ArrayBuffers on the main thread instead
 * of a helper thread, which removes the malloc lock contention that makes every message's own
 * ArrayBuffer cost microseconds (see docs/performance.md); an application opts in on its command line.
 */
const PEER_NODE_FLAGS = {
  'ours-tuned': ['--no-concurrent-array-buffer-sweeping'],
};
/** Workloads a peer would only repeat (same code path as another peer) are not run again. */
const SKIP = {
  'ours-tuned': ['c2s', 'echo', 'pipefile'],
  'ours-forawait': ['c2s', 'echo', 'pipefile'],
  'ours-pipeto': ['echo'],
  ours: ['pipefile'],
  'ours-ws': ['pipefile'],
  'undici-ws': ['pipefile'],
};

const SIZES = [['16 B', 16], ['1 KiB', 1024], ['64 KiB', 65536], ['1 MiB', 1048576]];
/**
 * This suite's server cannot send small messages faster than the fastest clients take them (they
 * all topped out near the same rate), so server->client at 16 B and 1 KiB is left to
 * bench/receive.mjs, which can.
 */
const S2C_SIZES = SIZES.filter(([, size]) => size >= 65536);

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string', default: ALL_PEERS.join(',') },
    skip: { type: 'string', default: '' },
    workloads: { type: 'string', default: 's2c,c2s,echo,pipefile' },
    node: { type: 'string', default: process.execPath },
    docs: { type: 'boolean', default: false },
    'slow-runs': { type: 'string', default: '1' },
  },
});
const quick = values.quick;
const runs = Number(values.runs ?? (quick ? 1 : 3));
const skip = new Set(values.skip.split(',').filter(Boolean));
const scale = quick ? 0.16 : 1;

function workloads() {
  const s2c = { 65536: 8192, 1048576: 512 };
  const c2s = { 16: 100_000, 1024: 50_000, 65536: 4096, 1048576: 256 };
  const list = [];
  for (const [label, size] of S2C_SIZES) {
    list.push({ id: `s2c ${label}`, kind: 's2c', size, count: Math.ceil(s2c[size] * scale) });
  }
  for (const [label, size] of SIZES) {
    list.push({ id: `c2s ${label}`, kind: 'c2s', size, count: Math.ceil(c2s[size] * scale) });
  }
  list.push({ id: 'echo 32 B', kind: 'echo', rounds: quick ? 2000 : 5000 });
  list.push({ id: 'pipeTo file', kind: 'pipefile', size: 65536, count: quick ? 1024 : 4096 });
  const kinds = new Set(values.workloads.split(','));
  return list.filter((w) => kinds.has(w.kind));
}

async function startServer() {
  const server = fork(fileURLToPath(new URL('./lib/suite-server.mjs', HERE)), [], { execPath: values.node, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = await once(server, 'message');
  return { server, wsBase: `ws://127.0.0.1:${message.wsPort}`, rawPort: message.rawPort };
}

/** Runs one peer's workloads in a fresh process; resolves with { id: result }. */
async function runPeer(peer, list, { wsBase, rawPort }) {
  const mine = list.filter((w) => !(SKIP[peer] ?? []).includes(w.kind));
  const child = fork(fileURLToPath(new URL('./lib/suite-client.mjs', HERE)), [peer, wsBase, String(rawPort), JSON.stringify(mine)], {
    execPath: values.node,
    execArgv: ['--disable-warning=UNDICI-WSS', '--disable-warning=ExperimentalWarning', ...(PEER_NODE_FLAGS[peer] ?? []), ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const results = {};
  child.on('message', (m) => {
    if (m.type === 'result') results[m.id] = m.result;
    if (m.type === 'fatal') console.error(`  ${peer}: ${m.error}`);
  });
  const deadline = setTimeout(() => child.kill('SIGKILL'), (quick ? 60 : 240) * 1000);
  await once(child, 'exit');
  clearTimeout(deadline);
  return results;
}

/** Derived figures of one result: msg/s, MB/s (payload, 10^6), latency. */
function figures(w, r) {
  if (!r || r.error) return null;
  if (w.kind === 'echo') return { p50Us: r.p50Us, p99Us: r.p99Us };
  const seconds = r.ms / 1000;
  const bytes = w.size * w.count;
  if (w.kind === 's2c' && r.received !== w.count) return { error: `received ${r.received} of ${w.count}` };
  if (w.kind === 'c2s' && !String(r.ack).startsWith('ok')) return { error: `bad ack ${r.ack}` };
  return { msgPerSec: w.count / seconds, MBps: bytes / 1e6 / seconds };
}

// ---------------------------------------------------------------------------

/**
 * Echo latency of ours against ws, as the median over the runs of each run's ratio: the two ran
 * seconds apart, so the machine's load, which moves from run to run, mostly cancels.
 */
function printEchoRatios(byRun) {
  const id = 'echo 32 B';
  for (const peer of ['ours', 'ours-ws']) {
    const perRun = byRun.map((run) => [run[peer]?.[id], run.ws?.[id]]).filter(([a, b]) => a?.p50Us && b?.p50Us);
    if (perRun.length === 0) continue;
    const p50 = perRun.map(([a, b]) => a.p50Us / b.p50Us);
    const p99 = perRun.map(([a, b]) => a.p99Us / b.p99Us);
    console.log(`echo 32 B, ${LABELS[peer]} / ws, median of ${perRun.length} runs' ratios: p50 ${median(p50).toFixed(2)}x, ` +
      `p99 ${median(p99).toFixed(2)}x (p99 per run: ${p99.map((x) => x.toFixed(2)).join(' ')})`);
  }
}

function fmtRate(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} k`;
  return n.toFixed(0);
}

/** The headline number of a workload: msg/s for small messages, GB/s for large, us for echo. */
function headline(w, f) {
  if (!f || f.error) return null;
  if (w.kind === 'echo') return f.p50Us;
  if (w.kind === 'pipefile') return f.MBps;
  return w.size <= 1024 ? f.msgPerSec : f.MBps / 1000;
}

function cell(w, f) {
  if (f === undefined) return '';
  if (f === null) return '-';
  if (f.error) return 'ERR';
  if (w.kind === 'echo') return `${f.p50Us.toFixed(1)}/${f.p99Us.toFixed(0)} us`;
  if (w.kind === 'pipefile') return `${f.MBps.toFixed(0)} MB/s`;
  return w.size <= 1024 ? `${fmtRate(f.msgPerSec)}/s` : `${(f.MBps / 1000).toFixed(2)} GB/s`;
}

function summarize(list, peers, byRun) {
  const summary = {};
  for (const w of list) {
    summary[w.id] = {};
    for (const peer of peers) {
      const all = byRun.map((run) => run[peer]?.[w.id]).filter((r) => r !== undefined);
      if (all.length === 0) continue;
      const figs = all.map((r) => figures(w, r));
      const ok = figs.filter((f) => f && !f.error);
      if (ok.length === 0) {
        summary[w.id][peer] = figs.find((f) => f?.error) ?? null;
        continue;
      }
      const out = { runs: ok.length };
      for (const key of Object.keys(ok[0])) out[key] = median(ok.map((f) => f[key]));
      summary[w.id][peer] = out;
    }
  }
  return summary;
}

function printTable(list, peers, summary) {
  const header = ['workload', ...peers.map((p) => LABELS[p]), 'ours/ws', 'ours/undici WSS'];
  const rows = [header];
  for (const w of list) {
    const row = summary[w.id];
    const ours = headline(w, row.ours ?? row['ours-pipeto']);
    const ratio = (other) => {
      const o = headline(w, row[other]);
      if (ours == null || o == null) return '';
      // Latency: lower is better, so the ratio is ours/other (<= 1.1 is the target).
      return `${(ours / o).toFixed(2)}x`;
    };
    rows.push([w.id, ...peers.map((p) => cell(w, row[p])), ratio('ws'), ratio('undici-wss')]);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(rows[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
  console.log('(throughput: messages/s for 16 B and 1 KiB, payload GB/s for 64 KiB and 1 MiB; echo: p50/p99;');
  console.log(' ratios compare "ours read()" (pipeTo for the file); for echo lower is better)');
}

/** Runs another bench script, streaming its output, and returns its JSON file. */
async function runScript(script, args, jsonFile) {
  const child = spawn(process.execPath, [fileURLToPath(new URL(script, HERE)), ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), (quick ? 60 : 900) * 1000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  try {
    return { code, ...JSON.parse(await readFile(new URL(jsonFile, RESULTS), 'utf8')) };
  } catch {
    return { code, error: 'no result file' };
  }
}

async function main() {
  const started = performance.now();
  const clientNode = execFileSync(values.node, ['--version'], { encoding: 'utf8' }).trim();
  const { WebSocket: adapter } = await import('../dist/index.js');
  let peers = values.only.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of peers) if (!ALL_PEERS.includes(p)) throw new Error(`unknown peer ${p} (known: ${ALL_PEERS.join(', ')})`);
  if (typeof adapter !== 'function') peers = peers.filter((p) => p !== 'ours-ws');
  const list = workloads();
  console.log(`bench suite (${quick ? 'quick' : 'full'}): ${runs} run(s), node ${clientNode}, peers: ${peers.join(', ')}`);

  const byRun = [];
  if (!skip.has('throughput')) {
    const server = await startServer();
    try {
      for (let run = 0; run < runs; run++) {
        const results = {};
        // Rotate the order each run so that no peer always goes first (or last).
        const order = peers.map((_, i) => peers[(i + run) % peers.length]);
        for (const peer of order) {
          process.stdout.write(`  run ${run + 1}/${runs} ${peer.padEnd(14)}`);
          const t = performance.now();
          results[peer] = await runPeer(peer, list, server);
          const errors = Object.entries(results[peer]).filter(([, r]) => r?.error).map(([id, r]) => `${id}: ${r.error}`);
          console.log(` ${((performance.now() - t) / 1000).toFixed(1)} s${errors.length ? `  ERRORS: ${errors.join('; ')}` : ''}`);
        }
        byRun.push(results);
      }
    } finally {
      server.server.kill();
    }
  }
  const summary = summarize(list, peers, byRun);

  let slow = null;
  if (!skip.has('slow')) {
    console.log('\nslow consumer:');
    const args = quick ? ['--total-mib', '64', '--rate-mib', '64', '--only', 'ours,floor,ws,undici-wss'] : ['--runs', values['slow-runs']];
    slow = await runScript('./slow-consumer.mjs', [...args, '--node', values.node], 'slow-consumer.json');
  }
  let serverRole = null;
  if (!skip.has('server')) {
    console.log('\nserver role:');
    const args = quick ? ['--connections', '500', '--messages', '10'] : ['--connections', '5000'];
    const major = clientNode.replace(/^v(\d+).*$/, '$1');
    serverRole = await runScript('./server-load.mjs', [...args, '--node', values.node], `server-load-node${major}.json`);
  }

  console.log('');
  if (byRun.length) printTable(list, peers, summary);
  if (byRun.length) printEchoRatios(byRun);
  if (slow?.summary) {
    const row = (c) => slow.summary.find((s) => s.client === c);
    console.log(`\nslow consumer (${slow.totalMiB} MiB flood at ${slow.rateMiB} MiB/s, peak RSS growth, median of ${slow.runs}): ` +
      ['ours', 'floor', 'ws', 'ws-pause', 'undici-wss'].map((c) => `${c} +${row(c)?.peakGrowthMiB ?? '?'} MiB`).join(', '));
  }
  if (serverRole?.results) {
    console.log(`\nserver role (${serverRole.connections} connections, ws clients):`);
    for (const r of serverRole.results) {
      const perGiB = Math.round((1024 * 1024) / r.rssPerConnectionKiB);
      console.log(`  ${r.server.padEnd(4)} RSS/conn ${r.rssPerConnectionKiB} KiB (~${perGiB} connections/GiB), heap+ext/conn ${r.heapPerConnectionKiB} KiB, echo ${r.echoMessagesPerSec} msg/s`);
    }
  }

  const report = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    runs,
    node: clientNode,
    platform: `${process.platform}-${process.arch}`,
    peers,
    workloads: list,
    summary,
    byRun,
    slowConsumer: slow,
    serverRole,
  };
  await mkdir(RESULTS, { recursive: true });
  await writeFile(new URL(`suite${quick ? '-quick' : ''}.json`, RESULTS), `${JSON.stringify(report, null, 1)}\n`);
  try {
    const { renderPlots } = await import('./plots.mjs');
    const written = await renderPlots(report, { docs: values.docs });
    console.log(`\nplots: ${written.join(', ')}`);
  } catch (error) {
    console.log(`\nplots skipped: ${error.message}`);
  }
  console.log(`wrote bench/results/suite${quick ? '-quick' : ''}.json in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

await main();
