#!/usr/bin/env node
// Server load benchmark: N concurrent connections (default 5000) from one client process, an echo
// on every one of them, against our server (acceptWebSocketStream + readable.pipeTo(writable))
// and against a `ws` WebSocketServer doing the same echo. The client is `ws` in both runs, so the
// only difference is the server.
//
//   npm run build && node bench/server-load.mjs [--connections 5000] [--messages 20]
//                                               [--size 256] [--only ours,ws] [--node PATH]
//
// --node runs both children (servers and client) on another Node binary, e.g. Node 24:
//   node bench/server-load.mjs --node .ci/.node24/node_modules/.bin/node
//
// Each server runs in its own child process (node --expose-gc), so its memory is its own:
//   - memory per connection: (heapUsed + external) and RSS, after a forced GC, with all
//     connections open and idle, minus the same figures before the first connection;
//   - echo throughput: every connection sends --messages messages of --size bytes, one at a time
//     (send, wait for the echo, send the next), all connections at once; messages per second and
//     payload MiB/s (one way) over the whole run; the server's peak RSS during it.
// Output: a table on stdout, the JSON on stdout after it, and bench/results/server-load-node<major>.json.
//
// File descriptors: N connections need N sockets in each of the two children. If `ulimit -n` is
// too low the script re-runs itself under `bash -c 'ulimit -n ...'` (which works up to the hard
// limit) and says so. SERVER_LOAD_CPU_PROF=DIR writes a CPU profile of each server child there.

import { execFileSync, fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const IMPLS = ['ours', 'ws'];
/** No phase may take longer than this: the children are killed and the run fails. */
const PHASE_TIMEOUT_MS = 180_000;
/** Handshakes in flight at once from the client: keeps the accept queue within the backlog. */
const OPEN_CONCURRENCY = 250;

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '5000' },
    messages: { type: 'string', default: '20' },
    size: { type: 'string', default: '256' },
    only: { type: 'string', default: IMPLS.join(',') },
    node: { type: 'string', default: process.execPath },
    role: { type: 'string' },
    impl: { type: 'string' },
    url: { type: 'string' },
  },
});

if (values.role === 'server') await runServer(values.impl);
else if (values.role === 'client') await runClient();
else await main();

// ---------------------------------------------------------------------------
// Parent: raise the fd limit if needed, run each server in turn, print the comparison.

async function main() {
  const connections = positiveInt(values.connections, '--connections');
  const messages = positiveInt(values.messages, '--messages');
  const size = positiveInt(values.size, '--size');
  const impls = values.only.split(',').map((s) => s.trim()).filter(Boolean);
  for (const impl of impls) if (!IMPLS.includes(impl)) throw new Error(`unknown server "${impl}" (known: ${IMPLS.join(', ')})`);

  const needed = connections + 1024;
  const limit = Number(execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(limit) && limit < needed) {
    if (process.env.SERVER_LOAD_RAISED === '1') {
      throw new Error(`ulimit -n is ${limit} and could not be raised to ${needed}: lower --connections or raise the hard limit`);
    }
    console.error(`ulimit -n is ${limit}; re-running under \`ulimit -n ${needed}\``);
    const quoted = [process.execPath, SELF, ...process.argv.slice(2)].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    const child = spawnSync('bash', ['-c', `ulimit -n ${needed} && exec ${quoted}`], {
      stdio: 'inherit',
      env: { ...process.env, SERVER_LOAD_RAISED: '1' },
    });
    process.exit(child.status ?? 1);
  }

  const results = [];
  for (const impl of impls) {
    console.error(`== ${impl}: ${connections} connections, ${messages} echoes of ${size} B each`);
    results.push(await runOne(impl, { connections, messages, size }));
  }
  printTable(results);
  const report = {
    date: new Date().toISOString(),
    node: results[0]?.node ?? process.version,
    platform: `${process.platform}-${process.arch}`,
    connections,
    messagesPerConnection: messages,
    messageBytes: size,
    client: 'ws (same client for every server)',
    results,
  };
  console.log(JSON.stringify(report, null, 1));
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const major = report.node.replace(/^v(\d+).*$/, '$1');
  await writeFile(new URL(`./results/server-load-node${major}.json`, import.meta.url), `${JSON.stringify(report, null, 1)}\n`);
}

async function runOne(impl, { connections, messages, size }) {
  const execPath = values.node;
  const profile = process.env.SERVER_LOAD_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SERVER_LOAD_CPU_PROF}`] : [];
  const server = fork(SELF, ['--role', 'server', '--impl', impl], { execPath, execArgv: ['--expose-gc', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let client;
  try {
    const { port } = await request(server, null, 'listening');
    const before = await request(server, { type: 'measure' }, 'measured');
    client = fork(SELF, ['--role', 'client', '--url', `ws://127.0.0.1:${port}/`], { execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await request(client, null, 'ready');
    const opened = await request(client, { type: 'open', connections }, 'opened');
    if (opened.failed > 0) throw new Error(`${opened.failed} of ${connections} connections failed to open: ${opened.firstError}`);
    const idle = await request(server, { type: 'measure' }, 'measured');
    server.send({ type: 'peak-start' });
    const echo = await request(client, { type: 'echo', messages, size }, 'echoed');
    const peak = await request(server, { type: 'peak-stop' }, 'peak');
    await request(client, { type: 'close' }, 'closed');
    const perConnection = (field) => (idle[field] - before[field]) / connections;
    return {
      server: impl,
      node: before.node,
      connections,
      openSeconds: round(opened.ms / 1000, 2),
      heapPerConnectionKiB: round((perConnection('heapUsed') + perConnection('external')) / 1024, 2),
      rssPerConnectionKiB: round(perConnection('rss') / 1024, 2),
      echoMessages: echo.messages,
      echoSeconds: round(echo.ms / 1000, 2),
      echoMessagesPerSec: Math.round(echo.messages / (echo.ms / 1000)),
      echoMiBPerSec: round((echo.messages * size) / (1024 * 1024) / (echo.ms / 1000), 2),
      echoErrors: echo.errors,
      peakRssDuringEchoMiB: round(peak.rss / (1024 * 1024), 1),
      idleRssMiB: round(idle.rss / (1024 * 1024), 1),
      baselineRssMiB: round(before.rss / (1024 * 1024), 1),
    };
  } finally {
    // Ask first (a --cpu-prof child writes its profile on a normal exit), then make sure.
    for (const child of [client, server]) if (child?.connected) child.send({ type: 'exit' });
    await new Promise((r) => setTimeout(r, 300));
    client?.kill();
    server.kill();
  }
}

/** Sends `message` (if any) and waits for a reply of `type`, bounded by PHASE_TIMEOUT_MS. */
async function request(child, message, type) {
  const reply = new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m?.type !== type) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code) => {
      cleanup();
      reject(new Error(`child exited (${code}) while waiting for "${type}"`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${PHASE_TIMEOUT_MS} ms waiting for "${type}"`));
    }, PHASE_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
  if (message !== null) child.send(message);
  return reply;
}

function printTable(results) {
  const rows = [
    ['server', 'node', 'conns', 'heap+ext/conn KiB', 'RSS/conn KiB', 'echo msg/s', 'echo MiB/s', 'peak RSS MiB', 'errors'],
    ...results.map((r) => [r.server, r.node, r.connections, r.heapPerConnectionKiB, r.rssPerConnectionKiB, r.echoMessagesPerSec, r.echoMiBPerSec, r.peakRssDuringEchoMiB, r.echoErrors]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)));
  for (const row of rows) console.log(row.map((cell, i) => String(cell).padStart(widths[i])).join('  '));
}

// ---------------------------------------------------------------------------
// Server child: one implementation, echo on every connection, memory on request.

async function runServer(impl) {
  process.on('disconnect', () => process.exit(0));
  const server = createServer();
  if (impl === 'ours') {
    const { acceptWebSocketStream } = await import('../dist/index.js');
    server.on('upgrade', (request, socket, head) => {
      const wss = acceptWebSocketStream(request, socket, head);
      wss.opened
        .then(({ readable, writable }) => readable.pipeTo(writable))
        .catch(() => {}); // a clean close errors the writable under pipeTo; nothing to report
    });
  } else if (impl === 'ws') {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  } else {
    throw new Error(`unknown server "${impl}"`);
  }
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  await once(server, 'listening');

  let peak = 0;
  let sampler = null;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  process.on('message', async (m) => {
    if (m.type === 'exit') process.exit(0);
    if (m.type === 'measure') {
      // Settle, then collect twice so that short-lived garbage of the handshakes is gone.
      await new Promise((r) => setTimeout(r, 500));
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 100));
      globalThis.gc();
      const { rss, heapUsed, external } = process.memoryUsage();
      process.send({ type: 'measured', rss, heapUsed, external, node: process.version });
    } else if (m.type === 'peak-start') {
      peak = 0;
      sampler = setInterval(sample, 20);
    } else if (m.type === 'peak-stop') {
      clearInterval(sampler);
      sample();
      process.send({ type: 'peak', rss: peak });
    }
  });
  process.send({ type: 'listening', port: server.address().port });
}

// ---------------------------------------------------------------------------
// Client child: `ws` clients, opened with bounded concurrency, echo, close.

async function runClient() {
  process.on('disconnect', () => process.exit(0));
  const { default: WebSocket } = await import('ws');
  const url = values.url;
  const sockets = [];

  const openOne = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => {
      ws.on('error', () => {});
      resolve(ws);
    });
    ws.once('error', reject);
  });

  process.on('message', async (m) => {
    if (m.type === 'exit') process.exit(0);
    if (m.type === 'open') {
      const started = performance.now();
      let next = 0;
      let failed = 0;
      let firstError = null;
      const worker = async () => {
        while (next < m.connections) {
          next++;
          try {
            sockets.push(await openOne());
          } catch (error) {
            failed++;
            firstError ??= String(error?.message ?? error);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, m.connections) }, worker));
      process.send({ type: 'opened', ms: performance.now() - started, failed, firstError });
    } else if (m.type === 'echo') {
      const payload = Buffer.alloc(m.size, 0x61);
      let errors = 0;
      const started = performance.now();
      await Promise.all(sockets.map((ws) => new Promise((resolve) => {
        let left = m.messages;
        const onMessage = (data) => {
          if (data.length !== m.size) errors++;
          left--;
          if (left === 0) {
            ws.off('message', onMessage);
            resolve();
          } else {
            ws.send(payload);
          }
        };
        ws.on('message', onMessage);
        ws.once('close', () => {
          if (left > 0) errors += left;
          resolve();
        });
        ws.send(payload);
      })));
      process.send({ type: 'echoed', ms: performance.now() - started, messages: sockets.length * m.messages, errors });
    } else if (m.type === 'close') {
      await Promise.all(sockets.map((ws) => new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', resolve);
        ws.close(1000);
      })));
      process.send({ type: 'closed' });
    }
  });
  process.send({ type: 'ready' });
}

// ---------------------------------------------------------------------------

function positiveInt(text, name) {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${text}`);
  return n;
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
