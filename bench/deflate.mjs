// permessage-deflate bench: a JSON feed sent server -> client over loopback, by this library and by
// `ws`, both with compression on, in the same run; then memory per idle connection.
//
//   npm run build && node --expose-gc bench/deflate.mjs [--messages 20000] [--size 2048] [--idle 200]
//
// For each library one process holds both ends (so CPU is the whole cost: compress + inflate +
// framing), measured with process.cpuUsage() over the transfer. Ratio = JSON bytes / wire bytes.
// Memory: `--idle` connections are opened, one message goes each way on each (so both zlib contexts
// exist, with context takeover), then RSS is compared with the same number of connections without
// compression. Both ends live in this process, so the figure is divided by two: one end's cost.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { WebSocket as WsClient, WebSocketServer } from 'ws';
import { acceptWebSocketStream, WebSocketStream } from '../dist/index.js';
import { MiB, round1, sleep } from './lib/common.mjs';

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), Number(process.argv[i + 1]));
const MESSAGES = args.get('messages') ?? 20_000;
const SIZE = args.get('size') ?? 2048;
const IDLE = args.get('idle') ?? 200;

/** A JSON feed: ticks with names, prices and timestamps, like a market or telemetry stream. */
function feed(count, size) {
  const messages = [];
  for (let m = 0; m < count; m++) {
    const items = [];
    let length = 0;
    for (let i = 0; length < size; i++) {
      const item = { symbol: `SYM${(m * 7 + i) % 500}`, price: Math.round(Math.random() * 1e6) / 100, volume: Math.floor(Math.random() * 10000), ts: 1.7e12 + m * 1000 + i };
      length += JSON.stringify(item).length + 1;
      items.push(item);
    }
    messages.push(JSON.stringify({ type: 'ticks', seq: m, items }));
  }
  return messages;
}

async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

async function runOurs(messages, deflate) {
  const http = createServer();
  let wireBytes = 0;
  http.on('upgrade', (request, socket, head) => {
    const wss = acceptWebSocketStream(request, socket, head, { perMessageDeflate: deflate });
    socket.on('close', () => (wireBytes = socket.bytesWritten));
    wss.opened.then(async ({ writable }) => {
      const writer = writable.getWriter();
      for (const message of messages) {
        await writer.ready;
        writer.write(message);
      }
      await writer.close();
    });
  });
  const port = await listen(http);
  const started = measureStart();
  const client = new WebSocketStream(`ws://127.0.0.1:${port}`, { perMessageDeflate: deflate });
  const { readable } = await client.opened;
  let received = 0;
  for await (const chunk of readable) received += chunk.length;
  const result = measureEnd(started);
  await sleep(20);
  http.close();
  return { ...result, received, wireBytes };
}

async function runWs(messages, deflate) {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: deflate ? { threshold: 1024 } : false });
  let wireBytes = 0;
  wss.on('connection', (ws) => {
    const socket = ws._socket;
    socket.on('close', () => (wireBytes = socket.bytesWritten));
    // ws queues messages (and compression jobs) itself; pace on its bufferedAmount like a careful app.
    (async () => {
      for (const message of messages) {
        if (ws.bufferedAmount > 1 * MiB) await new Promise((resolve) => ws.send(message, resolve));
        else ws.send(message);
      }
      ws.close(1000);
    })();
  });
  const port = await listen(http);
  const started = measureStart();
  const client = new WsClient(`ws://127.0.0.1:${port}`, { perMessageDeflate: deflate });
  let received = 0;
  client.on('message', (data) => (received += data.length));
  await once(client, 'close');
  const result = measureEnd(started);
  await sleep(20);
  wss.close();
  http.close();
  return { ...result, received, wireBytes };
}

function measureStart() {
  return { wall: performance.now(), cpu: process.cpuUsage() };
}

function measureEnd(start) {
  const seconds = (performance.now() - start.wall) / 1000;
  const cpu = process.cpuUsage(start.cpu);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

async function idleMemory(count, deflate) {
  global.gc?.();
  await sleep(100);
  global.gc?.();
  const before = process.memoryUsage().rss;
  const http = createServer();
  const servers = [];
  http.on('upgrade', (request, socket, head) => {
    const wss = acceptWebSocketStream(request, socket, head, { perMessageDeflate: deflate });
    servers.push(wss);
    // Echo one message, then sit idle with the stream open.
    wss.opened.then(async ({ readable, writable }) => {
      const reader = readable.getReader();
      const { value } = await reader.read();
      await writable.getWriter().write(value);
    });
  });
  const port = await listen(http);
  const clients = [];
  const message = JSON.stringify(feed(1, 4096)[0]);
  for (let i = 0; i < count; i++) {
    const client = new WebSocketStream(`ws://127.0.0.1:${port}`, { perMessageDeflate: deflate });
    const { readable, writable } = await client.opened;
    await writable.getWriter().write(message);
    await readable.getReader().read();
    clients.push(client);
  }
  global.gc?.();
  await sleep(200);
  global.gc?.();
  const after = process.memoryUsage().rss;
  for (const client of clients) client.close();
  await Promise.allSettled(clients.map((c) => c.closed));
  await Promise.allSettled(servers.map((s) => s.closed));
  http.close();
  return (after - before) / count;
}

const messages = feed(MESSAGES, SIZE);
const jsonBytes = messages.reduce((sum, m) => sum + Buffer.byteLength(m), 0);
const rows = [];
for (const [name, run, deflate] of [
  ['websocketstream, deflate', runOurs, true],
  ['ws, deflate', runWs, true],
  ['websocketstream, no deflate', runOurs, false],
  ['ws, no deflate', runWs, false],
]) {
  global.gc?.();
  const r = await run(messages, deflate);
  if (r.received !== jsonBytes) throw new Error(`${name}: received ${r.received} of ${jsonBytes} bytes`);
  rows.push({
    name,
    'MiB/s (JSON)': round1(jsonBytes / MiB / r.seconds),
    'msg/s': Math.round(MESSAGES / r.seconds),
    'CPU s': Math.round(r.cpuSeconds * 100) / 100,
    'CPU ms per MiB': round1((r.cpuSeconds * 1000) / (jsonBytes / MiB)),
    'wire MiB': round1(r.wireBytes / MiB),
    ratio: round1(jsonBytes / r.wireBytes),
  });
}

const withDeflate = await idleMemory(IDLE, true);
const noTakeover = await idleMemory(IDLE, { serverNoContextTakeover: true, clientNoContextTakeover: true });
const without = await idleMemory(IDLE, false);
const memory = {
  connections: IDLE,
  'RSS per pair, no deflate (KiB)': Math.round(without / 1024),
  'deflate, context takeover: extra per end (KiB)': Math.round((withDeflate - without) / 2 / 1024),
  'deflate, no context takeover: extra per end (KiB)': Math.round((noTakeover - without) / 2 / 1024),
};

console.log(JSON.stringify({ node: process.version, messages: MESSAGES, messageBytes: Math.round(jsonBytes / MESSAGES), jsonMiB: round1(jsonBytes / MiB), rows, memory }, null, 2));
console.table(rows);
console.table([memory]);
process.exit(0);
