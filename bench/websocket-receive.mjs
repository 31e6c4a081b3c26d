#!/usr/bin/env node
// Receive rate of the event-based WebSocket: how many 1 KiB messages per second a client takes in
// through its message event, ours (`WebSocket` from ../dist, onmessage) against `ws`
// (on('message')).
//
//   npm run build && node bench/websocket-receive.mjs [--messages 500000] [--runs 7]
//        [--type text,binary] [--only ours,ws,ws-as-standard] [--node path/to/node]
//
// The server runs in its own process and each client run in its own process, so that neither
// shares a heap, a JIT or a garbage collector with the other. Runs are interleaved (ours, ws,
// ours, ws, ...) so that a machine busy with something else slows both alike; the table gives the
// median of each client and the ratio of the medians.
//
// The server is a bare TCP server that answers the opening handshake and then writes the same
// pre-encoded frames for every client, in large writes: a `ws` server spends more per message
// than either client, and the benchmark would measure the server.
//
// Clients (each counts messages and bytes in its handler, and stops at the server's Close):
//   ours            WebSocket of this package, binaryType "arraybuffer", onmessage
//   ours-blob       same, binaryType "blob" (the standard's default)
//   ws              ws 8 client, on('message', (data, isBinary)): a Buffer viewing the socket
//                   chunk, text left undecoded (the baseline of the 0.9x goal)
//   ws-as-standard  ws 8 client handing the application what the standard WebSocket does: text
//                   decoded to a string (data.toString()), binary as an ArrayBuffer of its own
//                   (binaryType "arraybuffer"); the like-for-like comparison
//
// Output: a table on stdout, then one line of JSON with every run.

import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { median } from './lib/common.mjs';

const CLIENTS = ['ours', 'ours-blob', 'ws', 'ws-as-standard'];
const TYPES = ['text', 'binary'];
const MESSAGE_BYTES = 1024;
/** Frames per socket write on the server: a 1 MiB-ish block, written while the socket accepts it. */
const FRAMES_PER_BLOCK = 1024;
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A client run that takes longer than this is killed and the benchmark fails. */
const CHILD_TIMEOUT_MS = 120_000;

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '7' },
    type: { type: 'string', default: TYPES.join(',') },
    only: { type: 'string', default: 'ours,ws,ws-as-standard' },
    // The runtime of the clients (the server always runs on this node).
    node: { type: 'string', default: process.execPath },
    // Internal: set when this script runs as a child.
    server: { type: 'boolean', default: false },
    client: { type: 'string' },
    url: { type: 'string' },
  },
});

const messages = Math.ceil(Number(values.messages) / FRAMES_PER_BLOCK) * FRAMES_PER_BLOCK;
if (!(messages > 0)) throw new Error('--messages must be a positive number');

if (values.server) await runServer();
else if (values.client) await runClient(values.client, values.url);
else await main();

// ---------------------------------------------------------------------------------------------
// Parent: start the server, run the clients interleaved, print medians.

async function main() {
  const runs = Math.floor(Number(values.runs));
  if (!(runs > 0)) throw new Error('--runs must be a positive integer');
  const clients = list(values.only, CLIENTS, '--only');
  const types = list(values.type, TYPES, '--type');

  const server = fork(new URL(import.meta.url), ['--server', '--messages', String(messages)], { stdio: 'inherit' });
  const [port] = await once(server, 'message');
  const results = [];
  try {
    for (const type of types) {
      for (let run = 0; run < runs; run++) {
        for (const client of clients) {
          const url = `ws://127.0.0.1:${port}/${type}`;
          const result = await runChild(client, url, values.node);
          results.push({ type, run, client, ...result });
          process.stderr.write(`${type} run ${run + 1}/${runs} ${client.padEnd(15)} ${Math.round(result.rate)} msg/s, ${result.cpuMicrosPerMessage.toFixed(2)} CPU µs/msg\n`);
        }
      }
    }
  } finally {
    server.kill();
  }

  const table = [];
  for (const type of types) {
    const rates = Object.fromEntries(clients.map((client) => [
      client,
      median(results.filter((r) => r.type === type && r.client === client).map((r) => r.rate)),
    ]));
    for (const client of clients) {
      table.push({
        type,
        client,
        'median msg/s': Math.round(rates[client]),
        'MiB/s': Math.round((rates[client] * MESSAGE_BYTES) / 2 ** 20),
        'CPU µs/msg': median(results.filter((r) => r.type === type && r.client === client).map((r) => r.cpuMicrosPerMessage)).toFixed(2),
        'vs ws': rates.ws ? (rates[client] / rates.ws).toFixed(2) : '-',
        'vs ws-as-standard': rates['ws-as-standard'] ? (rates[client] / rates['ws-as-standard']).toFixed(2) : '-',
      });
    }
  }
  const clientNode = values.node === process.execPath ? process.version : values.node;
  console.log(`${messages} messages of ${MESSAGE_BYTES} bytes per run, ${runs} runs per client, clients on node ${clientNode}`);
  console.table(table);
  console.log(JSON.stringify({ messages, messageBytes: MESSAGE_BYTES, runs, node: clientNode, table, results }));
}

function list(text, known, flag) {
  const items = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const item of items) if (!known.includes(item)) throw new Error(`${flag}: unknown "${item}" (known: ${known.join(', ')})`);
  return items;
}

async function runChild(client, url, execPath) {
  const child = fork(new URL(import.meta.url), ['--client', client, '--url', url, '--messages', String(messages)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execPath,
  });
  const timer = setTimeout(() => child.kill(), CHILD_TIMEOUT_MS);
  try {
    const [[message], [code]] = await Promise.all([once(child, 'message'), once(child, 'exit')]);
    if (code !== 0) throw new Error(`${client} exited with ${code}`);
    if (message.count !== messages) throw new Error(`${client} received ${message.count} of ${messages} messages`);
    return message;
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Server: the opening handshake, then `messages` frames and a Close frame, for every connection.

async function runServer() {
  const blocks = {
    text: frames(0x1, Buffer.alloc(MESSAGE_BYTES, 'abcdefghijklmnopqrstuvwxyz')),
    binary: frames(0x2, Buffer.alloc(MESSAGE_BYTES, 0xa5)),
  };
  const server = createServer((socket) => {
    socket.on('error', () => {}); // a client that fails the benchmark resets; the parent reports it
    let head = '';
    const onHead = (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onHead);
      socket.on('data', () => {}); // the client's Close frame
      socket.on('end', () => socket.end());
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
      const type = head.startsWith('GET /text') ? 'text' : 'binary';
      const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      flood(socket, blocks[type]);
    };
    socket.on('data', onHead);
  });
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  process.on('disconnect', () => process.exit(0));
}

/** FRAMES_PER_BLOCK unmasked frames of one opcode, as one buffer. */
function frames(opcode, payload) {
  const header = Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat(Array.from({ length: FRAMES_PER_BLOCK }, () => [header, payload]).flat());
}

function flood(socket, block) {
  let left = messages / FRAMES_PER_BLOCK;
  const pump = () => {
    while (left > 0) {
      left--;
      if (!socket.write(block)) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.write(Buffer.from([0x88, 2, 0x03, 0xe8])); // Close 1000
  };
  pump();
}

// ---------------------------------------------------------------------------------------------
// Clients: count messages from the first one to the Close, report the rate to the parent.

async function runClient(client, url) {
  let count = 0;
  let bytes = 0;
  let start = 0;
  let cpuAtStart = null;
  const onOpen = () => {
    start = performance.now();
    cpuAtStart = process.cpuUsage();
  };
  const report = () => {
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuAtStart);
    // CPU time per message varies less than the rate when other processes compete for the CPU.
    const cpuMicrosPerMessage = (cpu.user + cpu.system) / count;
    const userMicrosPerMessage = cpu.user / count;
    process.send({ count, bytes, seconds, rate: count / seconds, cpuMicrosPerMessage, userMicrosPerMessage }, () => process.exit(0));
  };
  if (client === 'ours' || client === 'ours-blob') {
    const { WebSocket } = await import('../dist/index.js');
    const ws = new WebSocket(url);
    if (client === 'ours') ws.binaryType = 'arraybuffer';
    ws.onopen = onOpen;
    ws.onmessage = (event) => {
      count++;
      const { data } = event;
      bytes += typeof data === 'string' ? data.length : data instanceof ArrayBuffer ? data.byteLength : data.size;
    };
    ws.onerror = () => process.exit(1);
    ws.onclose = report;
  } else {
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', onOpen);
    if (client === 'ws-as-standard') {
      ws.binaryType = 'arraybuffer';
      ws.on('message', (data, isBinary) => {
        count++;
        bytes += isBinary ? data.byteLength : data.toString().length;
      });
    } else {
      ws.on('message', (data) => {
        count++;
        bytes += data.byteLength;
      });
    }
    ws.on('error', () => process.exit(1));
    ws.on('close', report);
  }
}
