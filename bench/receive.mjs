#!/usr/bin/env node
// Server->client receive rate of WebSocket CLIENTS, ours against the other standards-based clients,
// `ws`, and the floors the runtime's ReadableStream allows, with the server's own ceiling in the
// same table so that a reader can see the server is not what is measured.
//
//   npm run bench:receive -- [--runs 3] [--sizes 16,1024] [--types text,binary]
//        [--only ours-read,undici-wss,...] [--node /path/to/node] [--scale 1] [--timeout 120]
//        [--cpu-prof DIR]   (a V8 CPU profile of every client process, for Chrome DevTools)
//
// The server runs in its own process (always on this node) and writes pre-encoded frames in large
// corked batches (bench/lib/receive-server.mjs). Every peer runs in a process of its own (on
// --node), one after the other, interleaved within each run so that a busy machine slows all
// alike; tables show medians over --runs. Each row gives msg/s from the open to the server's
// Close, and the client process's CPU time per message (process.cpuUsage), which varies less than
// the rate when other processes compete for the CPU. The peers are described in
// bench/lib/receive-peers.mjs; raw-tcp is the server's ceiling (no WebSocket client), rs-floor and
// rs-floor-owned are in-process ReadableStreams with no socket at all (what the runtime allows).
//
// Messages per run default to min(1e6, 2^28 / size) (1 M at 16 B, 262 k at 1 KiB), times --scale.
// Output: progress on stderr; a markdown table of medians and one of ratios on stdout, then one
// line of JSON with every run. Every client is killed after --timeout seconds (and exits by itself
// if this process goes away); the server process exits when this one goes away.

import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { median, sleep } from './lib/common.mjs';
import { PEER_NODE_FLAGS, PEERS, TYPELESS, available } from './lib/receive-peers.mjs';
import { floodPath, startFloodServer } from './lib/receive-server.mjs';

const TYPES = ['text', 'binary'];
/** Peers that are WebSocket clients (the ceiling must be 3x the fastest of them). */
const isClient = (peer) => !TYPELESS.has(peer);
/** The server's ceiling must be at least this many times the fastest client, or the bench warns. */
const CEILING_FACTOR = 3;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '16,1024' },
    types: { type: 'string', default: TYPES.join(',') },
    only: { type: 'string', default: Object.keys(PEERS).join(',') },
    node: { type: 'string', default: process.execPath },
    scale: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '120' },
    'cpu-prof': { type: 'string' },
    // Internal: set when this script runs as the server or as one client.
    server: { type: 'boolean', default: false },
    client: { type: 'string' },
    port: { type: 'string' },
    type: { type: 'string' },
    size: { type: 'string' },
    count: { type: 'string' },
  },
});

if (values.server) await runServer();
else if (values.client) await runClient();
else await main();

// ---------------------------------------------------------------------------------------------

async function main() {
  const runs = positiveInteger(values.runs, '--runs');
  const sizes = values.sizes.split(',').map((s) => positiveInteger(s, '--sizes'));
  const types = list(values.types, TYPES, '--types');
  let peers = list(values.only, Object.keys(PEERS), '--only');
  const scale = Number(values.scale);
  if (!(scale > 0)) throw new Error('--scale must be a positive number');
  const timeoutMs = positiveInteger(values.timeout, '--timeout') * 1000;
  const countFor = (size) => Math.max(1, Math.round(Math.min(1e6, Math.max(100, 2 ** 28 / size)) * scale));

  const server = fork(new URL(import.meta.url), ['--server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [port] = await once(server, 'message');
  const clientNode = nodeVersion(values.node);
  const results = [];
  try {
    for (let run = 0; run < runs; run++) {
      for (const size of sizes) {
        for (const peer of [...peers]) {
          for (const type of TYPELESS.has(peer) ? ['-'] : types) {
            const count = countFor(size);
            const result = await runChild({ peer, port, type: type === '-' ? 'binary' : type, size, count, timeoutMs });
            if (result.unavailable) {
              process.stderr.write(`${peer}: not available on node ${clientNode}, left out\n`);
              peers = peers.filter((p) => p !== peer);
              break;
            }
            results.push({ run, size, type, peer, ...result });
            process.stderr.write(`run ${run + 1}/${runs} ${String(size).padStart(7)} B ${type.padEnd(6)} ${peer.padEnd(17)} ` +
              `${Math.round(result.rate)} msg/s, ${result.cpuMicrosPerMessage.toFixed(2)} CPU µs/msg\n`);
          }
        }
      }
    }
  } finally {
    server.kill();
  }

  const rows = summarize(results, sizes, types, peers);
  const ratios = ratioRows(results, rows, sizes, types);
  const warnings = ceilingWarnings(rows, sizes);
  for (const warning of warnings) process.stderr.write(`\n!!! WARNING: ${warning}\n`);

  console.log(`## Server->client receive, clients on node ${clientNode}, ${runs} run(s), medians\n`);
  console.log(markdown(rows, ['size', 'type', 'peer', 'msg/s', 'MiB/s', 'CPU µs/msg', 'messages']));
  console.log('\n### Ratios of msg/s: the median over the runs of each run\'s ratio\n');
  console.log(markdown(ratios, Object.keys(ratios[0] ?? { size: 0 })));
  console.log('\nread = ours WebSocketStream read() loop; for-await = ours, for await; classic = ours WebSocket ' +
    '(arraybuffer for binary); floor-owned = rs-floor-owned; tuned = started with --no-concurrent-array-buffer-sweeping; Node WS = node-ws (undici-ws where the runtime has no global WebSocket, marked *).');
  for (const warning of warnings) console.log(`\n**WARNING: ${warning}**`);
  console.log('\n' + JSON.stringify({ node: clientNode, serverNode: process.version, runs, sizes, types, peers, rows, ratios, warnings, results }));
}

/** Medians per (size, type, peer). */
function summarize(results, sizes, types, peers) {
  const rows = [];
  for (const size of sizes) {
    for (const type of ['-', ...types]) {
      for (const peer of peers) {
        const mine = results.filter((r) => r.size === size && r.type === type && r.peer === peer);
        if (mine.length === 0) continue;
        const rate = median(mine.map((r) => r.rate));
        rows.push({
          size,
          type,
          peer,
          'msg/s': Math.round(rate),
          'MiB/s': Math.round((rate * size) / 2 ** 20),
          'CPU µs/msg': Number(median(mine.map((r) => r.cpuMicrosPerMessage)).toFixed(3)),
          messages: mine[0].count,
        });
      }
    }
  }
  return rows;
}

function ratioRows(results, rows, sizes, types) {
  const rate = (size, type, peer) => rows.find((r) => r.size === size && r.type === type && r.peer === peer)?.['msg/s'];
  const runs = [...new Set(results.map((r) => r.run))];
  const rateIn = (run, size, type, peer) => results.find((r) => r.run === run && r.size === size && r.type === type && r.peer === peer)?.rate;
  // The median over the runs of each run's ratio: both clients of a ratio ran minutes apart at
  // most, so the machine's load, which moves from run to run, cancels better than in a ratio of
  // medians.
  const ratio = (size, [typeA, peerA], [typeB, peerB]) => {
    const perRun = runs.map((run) => rateIn(run, size, typeA, peerA) / rateIn(run, size, typeB, peerB)).filter((x) => x > 0);
    return perRun.length === 0 ? '-' : Number(median(perRun).toFixed(2));
  };
  const out = [];
  for (const size of sizes) {
    for (const type of types) {
      const read = [type, 'ours-read'];
      const classicBase = rate(size, type, 'node-ws') ? 'node-ws' : 'undici-ws';
      const classic = ratio(size, [type, 'ours-ws'], [type, classicBase]);
      const fastest = Math.max(0, ...rows.filter((r) => r.size === size && r.type === type && isClient(r.peer)).map((r) => r['msg/s']));
      const ceiling = rate(size, '-', 'raw-tcp');
      out.push({
        size,
        type,
        'read / undici WSS': ratio(size, read, [type, 'undici-wss']),
        'read / ws+RS': ratio(size, read, [type, 'ws+ReadableStream']),
        'read / floor-owned': ratio(size, read, ['-', 'rs-floor-owned']),
        'read-tuned / floor-owned-tuned': ratio(size, [type, 'ours-read-tuned'], ['-', 'rs-floor-owned-tuned']),
        'for-await / undici WSS': ratio(size, [type, 'ours-for-await'], [type, 'undici-wss']),
        'classic / Node WS': classic !== '-' && classicBase !== 'node-ws' ? `${classic}*` : classic,
        'read / ws': ratio(size, read, [type, 'ws']),
        'ceiling / fastest client': ceiling && fastest ? Number((ceiling / fastest).toFixed(1)) : '-',
      });
    }
  }
  return out;
}

/** The server must not be what limits the clients: its ceiling at least 3x the fastest client. */
function ceilingWarnings(rows, sizes) {
  const warnings = [];
  for (const size of sizes) {
    const ceiling = rows.find((r) => r.size === size && r.peer === 'raw-tcp')?.['msg/s'];
    const clients = rows.filter((r) => r.size === size && isClient(r.peer));
    if (clients.length === 0) continue;
    const fastest = clients.reduce((a, b) => (b['msg/s'] > a['msg/s'] ? b : a));
    if (ceiling === undefined) {
      warnings.push(`${size} B: raw-tcp not run, the server's ceiling is unknown (is the server the bottleneck?)`);
    } else if (ceiling < CEILING_FACTOR * fastest['msg/s']) {
      warnings.push(`${size} B: the server's ceiling (raw-tcp ${ceiling} msg/s) is less than ${CEILING_FACTOR}x the fastest ` +
        `client (${fastest.peer} ${fastest.type} ${fastest['msg/s']} msg/s): these figures may measure the server, not the clients`);
    }
  }
  return warnings;
}

function markdown(rows, columns) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map((row) => line(columns.map((c) => row[c] ?? '-')))].join('\n');
}

function positiveInteger(text, flag) {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag}: "${text}" is not a positive integer`);
  return n;
}

function list(text, known, flag) {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!known.includes(item)) throw new Error(`${flag}: unknown "${item}" (known: ${known.join(', ')})`);
  return items;
}

function nodeVersion(execPath) {
  return execFileSync(execPath, ['-p', 'process.version'], { encoding: 'utf8', timeout: 30_000 }).trim();
}

async function runChild({ peer, port, type, size, count, timeoutMs }) {
  const args = ['--client', peer, '--port', String(port), '--type', type, '--size', String(size), '--count', String(count),
    '--timeout', String(timeoutMs / 1000)];
  // --cpu-prof DIR: a V8 CPU profile of every client process, written into DIR.
  const profile = values['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`];
  const child = fork(new URL(import.meta.url), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execPath: values.node, execArgv: ['--no-warnings', ...(PEER_NODE_FLAGS[peer] ?? []), ...profile] });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const reported = once(child, 'message');
    const [code, signal] = await once(child, 'exit');
    if (code !== 0) throw new Error(`${peer} ${type} ${size} B: exited with ${signal ?? code}${signal ? ' (timeout?)' : ''}`);
    const [message] = await Promise.race([reported, sleep(5000).then(() => [{ count: 'no report' }])]);
    if (message.unavailable) return message;
    if (message.count !== count) throw new Error(`${peer} ${type} ${size} B: received ${message.count} of ${count} messages`);
    return message;
  } finally {
    clearTimeout(timer);
    child.kill(); // no-op once it exited
  }
}

// ---------------------------------------------------------------------------------------------
// Children.

async function runServer() {
  const server = await startFloodServer();
  process.send(server.address().port);
  process.on('disconnect', () => process.exit(0));
}

async function runClient() {
  // Bounded by itself too, should the parent die before it can kill this process.
  setTimeout(() => process.exit(2), Number(values.timeout) * 1000).unref();
  process.on('disconnect', () => process.exit(2));
  const peer = values.client;
  if (!available(peer)) {
    process.send({ unavailable: true }, () => process.exit(0));
    return;
  }
  const type = values.type;
  const size = Number(values.size);
  const count = Number(values.count);
  const port = Number(values.port);
  const path = floodPath({ type, size, count });
  let start = 0;
  let cpuAtStart;
  const opened = () => {
    start = performance.now();
    cpuAtStart = process.cpuUsage();
  };
  const received = await PEERS[peer]({ url: `ws://127.0.0.1:${port}${path}`, port, path, type, size, count, opened });
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  process.send({
    ...received,
    seconds,
    rate: received.count / seconds,
    cpuMicrosPerMessage: (cpu.user + cpu.system) / received.count,
  }, () => process.exit(0));
}
