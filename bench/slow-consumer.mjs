#!/usr/bin/env node
// Slow-consumer flood benchmark.
//
// A local server pushes --total-mib (default 512) MiB as 64 KiB binary messages as
// fast as TCP allows. Each client runs in its own child process, consumes at
// --rate-mib (default 20) MiB/s and reports how much its RSS grew while doing so.
// A client with real backpressure keeps the backlog in the kernel's TCP window
// (small and bounded); a client without it holds the backlog in JS memory.
//
//   node bench/slow-consumer.mjs [--total-mib 512] [--rate-mib 20] [--runs 1]
//                                [--only ours,floor,ws,ws-pause,undici-wss] [--node PATH]
// Env fallbacks: BENCH_TOTAL_MIB, BENCH_RATE_MIB, BENCH_RUNS, BENCH_ONLY, BENCH_NODE.
// --node runs the client processes with another Node binary (the parent and the
// servers stay on the current one).
//
// Clients:
//   ours        this package (../dist/index.js, run `npm run build` first), plain reader loop
//   floor       no WebSocket: raw TCP cut into fresh 64 KiB Uint8Arrays, perfect backpressure.
//               The runtime's memory floor for this workload: V8 frees dead ArrayBuffers
//               lazily, so even this grows RSS by tens of MiB. `ours` is judged against the
//               absolute target AND reported as a margin over this floor.
//   ws          ws 'message' handler pushing into an array drained by an async loop
//   ws-pause    same, but the app calls ws.pause()/ws.resume() around a small queue threshold
//   undici-wss  undici's WebSocketStream with the same reader loop as `ours`
//
// Results: a table on stdout and bench/results/slow-consumer.json.

import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  MiB, chunkBytes, createRssMeter, createThrottle, median, round1, toMiB,
} from './lib/common.mjs';

const CLIENTS = ['ours', 'floor', 'ws', 'ws-pause', 'undici-wss'];
const LABELS = { floor: 'floor (raw TCP, no WebSocket)' };
const TARGET_PEAK_GROWTH_MIB = 24;
const RESULTS_FILE = new URL('./results/slow-consumer.json', import.meta.url);

// ws-pause thresholds: what a careful app author would pick by hand.
const PAUSE_ABOVE_BYTES = 1 * MiB;
const RESUME_BELOW_BYTES = 256 * 1024;

// floor: message size (as the WebSocket flood) and the queue length that pauses the socket.
const FLOOR_MESSAGE_BYTES = 64 * 1024;
const FLOOR_PAUSE_AT_MESSAGES = 2;

// ---------------------------------------------------------------------------
// Options

function readOptions() {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      'total-mib': { type: 'string', default: env.BENCH_TOTAL_MIB ?? '512' },
      'rate-mib': { type: 'string', default: env.BENCH_RATE_MIB ?? '20' },
      runs: { type: 'string', default: env.BENCH_RUNS ?? '1' },
      only: { type: 'string', default: env.BENCH_ONLY ?? CLIENTS.join(',') },
      node: { type: 'string', default: env.BENCH_NODE ?? process.execPath },
      // Internal, used when the parent forks a client.
      child: { type: 'string' },
      url: { type: 'string' },
    },
  });

  const totalMiB = positiveNumber(values['total-mib'], '--total-mib');
  const rateMiB = positiveNumber(values['rate-mib'], '--rate-mib');
  const runs = Math.floor(positiveNumber(values.runs, '--runs'));
  const clients = values.only.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of clients) {
    if (!CLIENTS.includes(name)) throw new Error(`unknown client "${name}" (known: ${CLIENTS.join(', ')})`);
  }
  if (values.child && !CLIENTS.includes(values.child)) throw new Error(`unknown child "${values.child}"`);

  return {
    totalBytes: Math.round(totalMiB * MiB),
    rateBytes: rateMiB * MiB,
    runs,
    clients,
    node: values.node,
    child: values.child,
    url: values.url,
    // Generous upper bound for one client: twice the ideal duration plus slack.
    childTimeoutMs: ((totalMiB / rateMiB) * 2 + 30) * 1000,
  };
}

function positiveNumber(text, name) {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${text}"`);
  return n;
}

// ---------------------------------------------------------------------------
// Parent: start the server, run each client in its own process, report.

async function runParent(opts) {
  // Also checks that --node is a working binary before anything starts.
  let clientNode;
  try {
    clientNode = execFileSync(opts.node, ['--version'], { encoding: 'utf8' }).trim();
  } catch (err) {
    throw new Error(`--node ${opts.node}: ${err.message}`);
  }
  const { startFloodServer, startRawFloodServer } = await import('./lib/flood-server.mjs');
  const servers = {};
  if (opts.clients.some((c) => c !== 'floor')) servers.ws = await startFloodServer({ totalBytes: opts.totalBytes });
  if (opts.clients.includes('floor')) servers.raw = await startRawFloodServer({ totalBytes: opts.totalBytes });
  const urlFor = (client) => (client === 'floor' ? servers.raw : servers.ws).url;
  console.log(
    `slow-consumer: ${toMiB(opts.totalBytes)} MiB flood from ${Object.values(servers).map((s) => s.url).join(' + ')}, ` +
      `consumer throttled to ${toMiB(opts.rateBytes)} MiB/s, ` +
      `clients: ${opts.clients.join(', ')} on node ${clientNode} (${opts.node}), runs: ${opts.runs}`,
  );

  const results = [];
  try {
    // Interleave clients inside each run so that machine noise hits all of them alike.
    for (let run = 1; run <= opts.runs; run++) {
      for (const client of opts.clients) {
        process.stdout.write(`  run ${run}/${opts.runs} ${client.padEnd(10)} ... `);
        const result = { run, client, ...(await runClientProcess(client, urlFor(client), opts)) };
        console.log(describe(result));
        results.push(result);
      }
    }
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.close()));
  }

  const summary = summarize(results, opts);
  printTable(summary, opts);
  const verdict = judgeOurs(summary, opts);
  if (verdict) console.log(verdict.line);

  await mkdir(new URL('./', RESULTS_FILE), { recursive: true });
  await writeFile(
    RESULTS_FILE,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        clientNode,
        clientNodePath: opts.node,
        platform: `${process.platform}-${process.arch}`,
        totalMiB: toMiB(opts.totalBytes),
        rateMiB: toMiB(opts.rateBytes),
        messageKiB: 64,
        runs: opts.runs,
        targetPeakGrowthMiB: TARGET_PEAK_GROWTH_MIB,
        verdict: verdict
          ? {
              pass: verdict.pass,
              worstPeakGrowthMiB: verdict.worst,
              floorPeakGrowthMiB: verdict.floor,
              marginOverFloorMiB: verdict.margin,
            }
          : null,
        summary,
        results,
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`wrote ${fileURLToPath(RESULTS_FILE)}`);

  const anyError = results.some((r) => r.error);
  return anyError || (verdict && !verdict.pass) ? 1 : 0;
}

/** Fork one client; resolve with its report, or with { error } if it dies or hangs. */
async function runClientProcess(client, url, opts) {
  const args = [
    '--child', client, '--url', url,
    '--total-mib', String(toMiB(opts.totalBytes)), '--rate-mib', String(toMiB(opts.rateBytes)),
  ];
  const child = fork(fileURLToPath(import.meta.url), args, {
    execPath: opts.node,
    // --expose-gc: clean baseline. The undici warning would break our progress lines.
    execArgv: ['--expose-gc', '--disable-warning=UNDICI-WSS'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

  let report = null;
  child.on('message', (msg) => {
    if (msg && msg.type === 'result') report = msg.result;
  });

  // The child has its own (shorter) deadline; this is the backstop if it wedges.
  const killTimer = setTimeout(() => child.kill('SIGKILL'), opts.childTimeoutMs + 10_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(killTimer);

  if (report) return report;
  return { error: `child exited (code ${code}, signal ${signal}) without a report` };
}

function describe(r) {
  if (r.error && !r.receivedBytes) return `ERROR: ${r.error}`;
  const text =
    `peak +${r.peakGrowthMiB} MiB (Buffers +${r.peakArrayBuffersGrowthMiB}), ${round1(toMiB(r.receivedBytes))} MiB in ${r.seconds} s` +
    ` (${r.mibPerSec} MiB/s), close ${r.closeCode ?? '-'}`;
  return r.error ? `${text}  ERROR: ${r.error}` : text;
}

/** One row per client; medians when there are several runs. */
function summarize(results, opts) {
  return opts.clients.map((client) => {
    const mine = results.filter((r) => r.client === client && !r.error);
    const errors = results.filter((r) => r.client === client && r.error).length;
    if (mine.length === 0) return { client, runs: 0, errors };
    const pick = (key) => round1(median(mine.map((r) => r[key])));
    return {
      client,
      runs: mine.length,
      errors,
      peakGrowthMiB: pick('peakGrowthMiB'),
      worstPeakGrowthMiB: Math.max(...mine.map((r) => r.peakGrowthMiB)),
      receivedMiB: round1(toMiB(median(mine.map((r) => r.receivedBytes)))),
      seconds: pick('seconds'),
      mibPerSec: pick('mibPerSec'),
      complete: mine.every((r) => r.receivedBytes === opts.totalBytes),
    };
  });
}

function printTable(summary, opts) {
  const head = opts.runs > 1 ? `median of ${opts.runs} runs` : 'single run';
  console.log(`\nResults (${head}; peak RSS growth over the post-open baseline)`);
  const cols = ['client', 'peak RSS growth MiB', 'received MiB', 'seconds', 'MiB/s'];
  const rows = summary.map((s) =>
    s.runs === 0
      ? [LABELS[s.client] ?? s.client, 'error', '-', '-', '-']
      : [LABELS[s.client] ?? s.client, String(s.peakGrowthMiB), String(s.receivedMiB), String(s.seconds), String(s.mibPerSec)],
  );
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(cols));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  console.log('');
}

/**
 * PASS needs every run of `ours` to finish, to deliver every byte (a client that
 * drops data would trivially use little memory), and to stay within the target in
 * its worst run, not just its median. The floor never changes PASS/FAIL: it only
 * says how much of the growth the runtime would cost any client anyway, as
 * "ours = floor + margin" on the medians of this same run.
 */
function judgeOurs(summary, opts) {
  const ours = summary.find((s) => s.client === 'ours');
  if (!ours) return null;
  const pass = ours.runs === opts.runs && ours.complete && ours.worstPeakGrowthMiB <= TARGET_PEAK_GROWTH_MIB;
  const worst = ours.runs ? ours.worstPeakGrowthMiB : null;
  const detail = ours.runs
    ? `worst peak growth ${worst} MiB vs target ${TARGET_PEAK_GROWTH_MIB} MiB` +
      (ours.complete ? '' : ', NOT all bytes received') +
      (ours.errors ? `, ${ours.errors} run(s) failed` : '')
    : 'no successful run';

  const floor = summary.find((s) => s.client === 'floor');
  let floorText = '';
  let floorMiB = null;
  let margin = null;
  if (floor?.runs && ours.runs) {
    floorMiB = floor.peakGrowthMiB;
    margin = round1(ours.peakGrowthMiB - floorMiB);
    const sign = margin < 0 ? '-' : '+';
    floorText =
      `; vs floor in this run (medians): ours +${ours.peakGrowthMiB} MiB = floor +${floorMiB} ${sign} ${Math.abs(margin)} MiB` +
      (floor.complete ? '' : ' (floor did NOT receive all bytes)');
  } else if (floor) {
    floorText = '; floor: no successful run';
  }
  return { pass, worst, floor: floorMiB, margin, line: `ours: ${pass ? 'PASS' : 'FAIL'} (${detail})${floorText}` };
}

// ---------------------------------------------------------------------------
// Child: one client, one connection, one report over IPC.

async function runChild(opts) {
  const meter = createRssMeter({ intervalMs: 50 });
  const throttle = createThrottle(opts.rateBytes);
  const stats = { receivedBytes: 0, lastByteAtMs: 0, closeCode: null };

  // Every consumer calls this once per chunk: count it, then "work" at the set rate.
  const consume = async (chunk) => {
    stats.receivedBytes += chunkBytes(chunk);
    await throttle.take(chunkBytes(chunk));
  };

  let reported = false;
  const report = (error) => {
    if (reported) return;
    reported = true;
    if (meter.started) meter.stop();
    const seconds = meter.started ? meter.elapsedMs / 1000 : 0;
    const result = {
      peakGrowthMiB: round1(toMiB(meter.peakGrowthBytes)),
      baselineMiB: round1(toMiB(meter.baselineBytes)),
      peakArrayBuffersGrowthMiB: round1(toMiB(meter.peakArrayBuffersGrowthBytes)),
      receivedBytes: stats.receivedBytes,
      seconds: round1(seconds),
      mibPerSec: seconds > 0 ? round1(toMiB(stats.receivedBytes) / seconds) : 0,
      closeCode: stats.closeCode,
      node: process.version,
      timeline: meter.timeline,
      ...(error ? { error: String(error?.message ?? error) } : {}),
    };
    // Exit only once the report has left; the timeout covers a dead IPC channel.
    process.send({ type: 'result', result }, () => process.exit(0));
    setTimeout(() => process.exit(1), 2000).unref();
  };

  // Whatever the client does, this process ends: report what we have and go.
  setTimeout(() => report(new Error(`timed out after ${opts.childTimeoutMs / 1000} s`)), opts.childTimeoutMs).unref();

  try {
    const run = CONSUMERS[opts.child];
    stats.closeCode = await run(opts.url, { onOpen: () => meter.start(), consume });
    report(null);
  } catch (err) {
    report(err);
  }
}

const CONSUMERS = {
  async ours(url, hooks) {
    const { WebSocketStream } = await import('../dist/index.js');
    return readWebSocketStream(WebSocketStream, url, hooks);
  },
  async 'undici-wss'(url, hooks) {
    const { WebSocketStream } = await import('undici');
    return readWebSocketStream(WebSocketStream, url, hooks);
  },
  floor: readRawFloor,
  ws: (url, hooks) => readWs(url, hooks, { pauseWhenBusy: false }),
  'ws-pause': (url, hooks) => readWs(url, hooks, { pauseWhenBusy: true }),
};

/**
 * The whole point of WebSocketStream: a plain reader loop, no flow-control code.
 * If the library applies backpressure, a slow loop here slows the sender down.
 * Returns the close code.
 */
async function readWebSocketStream(WebSocketStream, url, { onOpen, consume }) {
  const wss = new WebSocketStream(url);
  const { readable } = await wss.opened;
  onOpen();
  const reader = readable.getReader();
  // Ends when the server closes the connection; the child deadline bounds it otherwise.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    await consume(value);
  }
  const { closeCode } = await wss.closed;
  return closeCode;
}

/**
 * The usual `ws` pattern: 'message' pushes into the app's queue, an async loop drains
 * it at the app's pace. With `pauseWhenBusy` the app also hand-codes flow control
 * with ws.pause()/ws.resume() around a small queue size. Returns the close code.
 */
async function readWs(url, { onOpen, consume }, { pauseWhenBusy }) {
  const { WebSocket } = await import('ws');
  const queue = createQueue();
  let closeCode = null;
  let wake = null; // resolves the drain loop's wait when a message or the close arrives

  const ws = new WebSocket(url);
  ws.on('message', (data) => {
    queue.push(data);
    if (pauseWhenBusy && queue.bytes > PAUSE_ABOVE_BYTES && !ws.isPaused) ws.pause();
    wake?.();
  });
  ws.on('close', (code) => {
    closeCode = code;
    wake?.();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  onOpen();

  // Ends when the socket is closed and the queue is empty; the child deadline bounds it otherwise.
  while (closeCode === null || queue.length > 0) {
    if (queue.length === 0) {
      await new Promise((resolve) => (wake = resolve));
      wake = null;
      continue;
    }
    const data = queue.shift();
    if (pauseWhenBusy && ws.isPaused && queue.bytes < RESUME_BELOW_BYTES) ws.resume();
    await consume(data);
  }
  return closeCode;
}

/**
 * The memory floor: no WebSocket library, no framing. The raw TCP stream is cut into
 * 64 KiB messages, each copied into a FRESH Uint8Array because every WebSocket client
 * must hand the app a new buffer per message; flow control is perfect (pause at 2
 * queued messages, resume below). What RSS growth remains is the runtime's: V8 frees
 * dead ArrayBuffers only after enough external memory has been allocated. Returns
 * null (TCP has no close code).
 */
async function readRawFloor(url, { onOpen, consume }) {
  const { hostname, port } = new URL(url);
  const queue = createQueue();
  let ended = false;
  let failure = null;
  let paused = false;
  let wake = null; // resolves the drain loop's wait when a message, the end or an error arrives
  let message = new Uint8Array(FLOOR_MESSAGE_BYTES);
  let filled = 0;
  const deliver = (msg) => {
    queue.push(msg);
    wake?.();
  };

  const socket = net.connect({ host: hostname, port: Number(port) });
  socket.on('data', (chunk) => {
    for (let offset = 0; offset < chunk.length; ) {
      const n = Math.min(chunk.length - offset, message.length - filled);
      message.set(chunk.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
      if (filled === message.length) {
        deliver(message);
        message = new Uint8Array(FLOOR_MESSAGE_BYTES);
        filled = 0;
      }
    }
    if (!paused && queue.length >= FLOOR_PAUSE_AT_MESSAGES) {
      paused = true;
      socket.pause();
    }
  });
  socket.on('end', () => {
    if (filled > 0) deliver(message.subarray(0, filled));
    ended = true;
    wake?.();
  });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', (err) => {
    failure = err;
    wake?.();
  });
  onOpen();

  // Ends when the server has ended and the queue is empty; the child deadline bounds it otherwise.
  while (!failure && (!ended || queue.length > 0)) {
    if (queue.length === 0) {
      await new Promise((resolve) => (wake = resolve));
      wake = null;
      continue;
    }
    const data = queue.shift();
    if (paused && queue.length < FLOOR_PAUSE_AT_MESSAGES) {
      paused = false;
      socket.resume();
    }
    await consume(data);
  }
  socket.destroy();
  if (failure) throw failure;
  return null;
}

/** FIFO of Buffers that tracks its byte size (Array#shift on thousands of items is slow). */
function createQueue() {
  let items = [];
  let head = 0;
  let bytes = 0;
  return {
    push(buf) {
      items.push(buf);
      bytes += buf.length;
    },
    shift() {
      const buf = items[head];
      items[head++] = undefined;
      bytes -= buf.length;
      // Compact now and then so the array does not grow forever.
      if (head > 1024 && head * 2 > items.length) {
        items = items.slice(head);
        head = 0;
      }
      return buf;
    },
    get length() {
      return items.length - head;
    },
    get bytes() {
      return bytes;
    },
  };
}

// ---------------------------------------------------------------------------
// Entry point (last, so that every const above is initialised).

const options = readOptions();
if (options.child) {
  await runChild(options);
} else {
  process.exitCode = await runParent(options);
}
