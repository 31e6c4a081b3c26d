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
//                                [--only ours,ws,ws-pause,undici-wss]
// Env fallbacks: BENCH_TOTAL_MIB, BENCH_RATE_MIB, BENCH_RUNS, BENCH_ONLY.
//
// Clients:
//   ours        this package (../dist/index.js, run `npm run build` first), plain reader loop
//   ws          ws 'message' handler pushing into an array drained by an async loop
//   ws-pause    same, but the app calls ws.pause()/ws.resume() around a small queue threshold
//   undici-wss  undici's WebSocketStream with the same reader loop as `ours`
//
// Results: a table on stdout and bench/results/slow-consumer.json.

import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  MiB, chunkBytes, createRssMeter, createThrottle, median, round1, toMiB,
} from './common.mjs';

const CLIENTS = ['ours', 'ws', 'ws-pause', 'undici-wss'];
const TARGET_PEAK_GROWTH_MIB = 24;
const RESULTS_FILE = new URL('./results/slow-consumer.json', import.meta.url);

// ws-pause thresholds: what a careful app author would pick by hand.
const PAUSE_ABOVE_BYTES = 1 * MiB;
const RESUME_BELOW_BYTES = 256 * 1024;

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
  const { startFloodServer } = await import('./flood-server.mjs');
  const server = await startFloodServer({ totalBytes: opts.totalBytes });
  console.log(
    `slow-consumer: ${toMiB(opts.totalBytes)} MiB flood from ${server.url}, ` +
      `consumer throttled to ${toMiB(opts.rateBytes)} MiB/s, ` +
      `clients: ${opts.clients.join(', ')}, runs: ${opts.runs}`,
  );

  const results = [];
  try {
    // Interleave clients inside each run so that machine noise hits all of them alike.
    for (let run = 1; run <= opts.runs; run++) {
      for (const client of opts.clients) {
        process.stdout.write(`  run ${run}/${opts.runs} ${client.padEnd(10)} ... `);
        const result = { run, client, ...(await runClientProcess(client, server.url, opts)) };
        console.log(describe(result));
        results.push(result);
      }
    }
  } finally {
    await server.close();
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
        platform: `${process.platform}-${process.arch}`,
        totalMiB: toMiB(opts.totalBytes),
        rateMiB: toMiB(opts.rateBytes),
        messageKiB: 64,
        runs: opts.runs,
        targetPeakGrowthMiB: TARGET_PEAK_GROWTH_MIB,
        verdict: verdict ? { pass: verdict.pass, worstPeakGrowthMiB: verdict.worst } : null,
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
      ? [s.client, 'error', '-', '-', '-']
      : [s.client, String(s.peakGrowthMiB), String(s.receivedMiB), String(s.seconds), String(s.mibPerSec)],
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
 * its worst run, not just its median.
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
  return { pass, worst, line: `ours: ${pass ? 'PASS' : 'FAIL'} (${detail})` };
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
