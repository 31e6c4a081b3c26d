// One peer of bench/suite.mjs, run in a process of its own: it runs the workloads it is given
// against bench/lib/suite-server.mjs, in order, and reports each result over IPC.
//
//   fork('bench/lib/suite-client.mjs', [PEER, WS_BASE, RAW_PORT, WORKLOADS_JSON])
//
// Every workload ends by itself: a server-side count ends it, and the parent kills a child that
// outlives its deadline. A workload the peer does not support is reported as skipped.

import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const [peer, wsBase, rawPortText, workloadsJson] = process.argv.slice(2);
const rawPort = Number(rawPortText);
const workloads = JSON.parse(workloadsJson);
const ECHO_BYTES = 32;
const ECHO_WARMUP = 500;
/** Senders without a callback per message keep at most this much unsent, as an app would. */
const SEND_HIGH_WATER = 1024 * 1024;

const now = () => performance.now();
const payloadOf = (size) => new Uint8Array(size).fill(0x62);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function latencies(samples) {
  const sorted = Float64Array.from(samples).sort();
  return { p50Us: percentile(sorted, 0.5) * 1000, p99Us: percentile(sorted, 0.99) * 1000, samples: sorted.length };
}

async function fileSink(run) {
  const path = join(tmpdir(), `wss-bench-${process.pid}-${Date.now()}.bin`);
  try {
    return await run(path);
  } finally {
    await rm(path, { force: true });
  }
}

// ---------------------------------------------------------------------------
// WebSocketStream (ours and undici's): the same code for both.

function wssPeer(load, mode, { pipefile = false } = {}) {
  const open = async (url) => {
    const { WebSocketStream } = await load();
    const wss = new WebSocketStream(url);
    const { readable, writable } = await wss.opened;
    return { wss, readable, writable };
  };
  return {
    async s2c(url, size, _count) {
      const { wss, readable } = await open(url);
      let received = 0;
      const started = now();
      if (mode === 'read') {
        const reader = readable.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (value.byteLength === size) received++;
        }
      } else if (mode === 'forawait') {
        for await (const value of readable) if (value.byteLength === size) received++;
      } else {
        await readable.pipeTo(new WritableStream({ write(value) { if (value.byteLength === size) received++; } }));
      }
      const ms = now() - started;
      await wss.closed;
      return { ms, received };
    },
    async c2s(url, size, count) {
      const { wss, readable, writable } = await open(url);
      const payload = payloadOf(size);
      const reader = readable.getReader();
      const ack = reader.read();
      const started = now();
      if (mode === 'pipeto') {
        let sent = 0;
        await new ReadableStream({
          pull(controller) {
            controller.enqueue(payload);
            if (++sent === count) controller.close();
          },
        }, { highWaterMark: 0 }).pipeTo(writable, { preventClose: true });
      } else {
        const writer = writable.getWriter();
        for (let i = 0; i < count; i++) {
          await writer.ready;
          writer.write(payload);
        }
        writer.releaseLock();
      }
      const { value } = await ack;
      const ms = now() - started;
      reader.releaseLock();
      wss.close();
      await wss.closed;
      return { ms, ack: value };
    },
    async echo(url, rounds) {
      const { wss, readable, writable } = await open(url);
      const reader = readable.getReader();
      const writer = writable.getWriter();
      const payload = payloadOf(ECHO_BYTES);
      const samples = [];
      for (let i = 0; i < ECHO_WARMUP + rounds; i++) {
        const t = now();
        writer.write(payload);
        await reader.read();
        if (i >= ECHO_WARMUP) samples.push(now() - t);
      }
      wss.close();
      await wss.closed;
      return latencies(samples);
    },
    async pipefile(url, _size, _count) {
      if (!pipefile) return null;
      return fileSink(async (path) => {
        const { wss, readable } = await open(url);
        const started = now();
        await readable.pipeTo(Writable.toWeb(createWriteStream(path)));
        const ms = now() - started;
        await wss.closed;
        return { ms };
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Event-based clients: ws, undici's WebSocket, our adapter (when it exists).

/** `make(url)` returns a WebSocket-like object with binaryType set and Node-or-DOM events. */
function eventPeer(make, { sendAndWait }) {
  // onmessage is set before the handshake completes: messages in the same TCP read as the 101
  // response are dispatched right after 'open', before an awaiting caller would get to set it.
  const openSocket = (url, onmessage = null) => new Promise((resolve, reject) => {
    const socket = make(url);
    socket.onmessage = onmessage;
    socket.onopen = () => resolve(socket);
    socket.onerror = (event) => reject(event.error ?? new Error('WebSocket error'));
  });
  const closed = (socket) => new Promise((resolve) => {
    if (socket.readyState === 3) resolve();
    else socket.onclose = () => resolve();
  });
  return {
    async s2c(url, size, count) {
      let received = 0;
      let last = 0;
      const socket = await openSocket(url, (event) => {
        if (event.data.byteLength === size && ++received === count) last = now();
      });
      const started = now();
      await closed(socket);
      return { ms: (last || now()) - started, received };
    },
    async c2s(url, size, count) {
      const socket = await openSocket(url);
      const payload = payloadOf(size);
      const ack = new Promise((resolve) => { socket.onmessage = (event) => resolve(event.data); });
      const started = now();
      for (let i = 0; i < count; i++) {
        if (socket.bufferedAmount > SEND_HIGH_WATER) await sendAndWait(socket, payload);
        else socket.send(payload);
      }
      const value = await ack;
      const ms = now() - started;
      socket.close();
      await closed(socket);
      return { ms, ack: String(value) };
    },
    async echo(url, rounds) {
      const socket = await openSocket(url);
      const payload = payloadOf(ECHO_BYTES);
      const samples = [];
      let resolveMessage = null;
      socket.onmessage = () => resolveMessage();
      for (let i = 0; i < ECHO_WARMUP + rounds; i++) {
        const t = now();
        const message = new Promise((resolve) => { resolveMessage = resolve; });
        socket.send(payload);
        await message;
        if (i >= ECHO_WARMUP) samples.push(now() - t);
      }
      socket.close();
      await closed(socket);
      return latencies(samples);
    },
  };
}

/** Sends, then waits until bufferedAmount is back under a quarter of the high-water mark. */
async function pollBuffered(socket, payload) {
  socket.send(payload);
  while (socket.bufferedAmount > SEND_HIGH_WATER / 4) await new Promise((r) => setImmediate(r));
}

async function wsPeer() {
  const { WebSocket } = await import('ws');
  const base = eventPeer((url) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = 'arraybuffer';
    return ws;
  }, {
    // ws has a callback per send: wait for the write of the last message to complete.
    sendAndWait: (ws, payload) => new Promise((resolve) => ws.send(payload, resolve)),
  });
  return {
    ...base,
    // The `ws` way to save to a file: 'message' writes, pause()/resume() on the file's backpressure.
    async pipefile(url) {
      return fileSink(async (path) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        const file = createWriteStream(path);
        // Before 'open': messages in the same read as the 101 follow it at once.
        ws.on('message', (data) => {
          if (!file.write(data)) {
            ws.pause();
            file.once('drain', () => ws.resume());
          }
        });
        await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
        const started = now();
        await new Promise((resolve) => ws.once('close', resolve));
        await new Promise((resolve) => file.end(resolve));
        return { ms: now() - started };
      });
    },
  };
}

/** ws's createWebSocketStream: a Node Duplex over a ws WebSocket. */
async function wsStreamPeer() {
  const { WebSocket, createWebSocketStream } = await import('ws');
  const open = async (url) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    // The Duplex is made before 'open': messages in the same read as the 101 follow it at once.
    const duplex = createWebSocketStream(ws);
    duplex.on('error', () => {});
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    return { ws, duplex };
  };
  const closed = (ws) => new Promise((resolve) => (ws.readyState === 3 ? resolve() : ws.once('close', resolve)));
  return {
    async s2c(url, size) {
      const { ws, duplex } = await open(url);
      // A byte stream: chunks are not messages (the Readable may join them), so count bytes.
      let bytes = 0;
      const started = now();
      for await (const chunk of duplex) bytes += chunk.length;
      const ms = now() - started;
      await closed(ws);
      return { ms, received: bytes / size };
    },
    async c2s(url, size, count) {
      const { ws, duplex } = await open(url);
      const payload = Buffer.from(payloadOf(size));
      const ack = new Promise((resolve) => duplex.once('data', resolve));
      const started = now();
      for (let i = 0; i < count; i++) {
        if (!duplex.write(payload)) await new Promise((resolve) => duplex.once('drain', resolve));
      }
      const value = await ack;
      const ms = now() - started;
      ws.close();
      await closed(ws);
      return { ms, ack: String(value) };
    },
    async echo(url, rounds) {
      const { ws, duplex } = await open(url);
      const payload = Buffer.from(payloadOf(ECHO_BYTES));
      const samples = [];
      let resolveMessage = null;
      duplex.on('data', () => resolveMessage());
      for (let i = 0; i < ECHO_WARMUP + rounds; i++) {
        const t = now();
        const message = new Promise((resolve) => { resolveMessage = resolve; });
        duplex.write(payload);
        await message;
        if (i >= ECHO_WARMUP) samples.push(now() - t);
      }
      ws.close();
      await closed(ws);
      return latencies(samples);
    },
    async pipefile(url) {
      return fileSink(async (path) => {
        const { ws, duplex } = await open(url);
        const started = now();
        await pipeline(duplex, createWriteStream(path));
        const ms = now() - started;
        await closed(ws);
        return { ms };
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Raw TCP: the limit. net.Socket with `onread` and one reused buffer, no WebSocket at all.

function rawConnect(line, onBytes) {
  const buffer = Buffer.allocUnsafe(256 * 1024);
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: '127.0.0.1',
      port: rawPort,
      noDelay: true,
      onread: { buffer, callback: (n, buf) => onBytes(n, buf) },
    });
    socket.once('connect', () => {
      socket.write(line);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

const rawPeer = {
  async s2c(_url, size, count) {
    const frameLength = (size < 126 ? 2 : size < 65536 ? 4 : 10) + size;
    let bytes = 0;
    let started = 0;
    const socket = await rawConnect(`s2c ${size} ${count}\n`, (n) => { bytes += n; });
    started = now();
    await new Promise((resolve) => socket.once('end', resolve));
    const ms = now() - started;
    socket.destroy();
    return { ms, received: Math.floor(bytes / frameLength) };
  },
  async c2s(_url, size, count) {
    const frameLength = (size < 126 ? 2 : size < 65536 ? 4 : 10) + 4 + size;
    // The bytes the WebSocket clients send (masked frames, mask 0), written in ~256 KiB writes.
    const perWrite = Math.max(1, Math.floor((256 * 1024) / frameLength));
    const chunk = Buffer.alloc(frameLength * Math.min(perWrite, count), 0x62);
    let ack;
    const acked = new Promise((resolve) => { ack = resolve; });
    const socket = await rawConnect(`c2s ${size} ${count}\n`, (n, buf) => ack(buf.toString('latin1', 0, n)));
    const started = now();
    for (let left = count; left > 0;) {
      const n = Math.min(perWrite, left);
      left -= n;
      if (!socket.write(n * frameLength === chunk.length ? chunk : chunk.subarray(0, n * frameLength))) {
        await new Promise((resolve) => socket.once('drain', resolve));
      }
    }
    const value = await acked;
    const ms = now() - started;
    socket.destroy();
    return { ms, ack: value.trim() };
  },
  async echo(_url, rounds) {
    const payload = Buffer.from(payloadOf(ECHO_BYTES + 6)); // the bytes of one masked 32 B frame
    let expected = 0;
    let got = 0;
    let resolveMessage = null;
    const socket = await rawConnect('echo\n', (n) => {
      got += n;
      if (got >= expected) resolveMessage?.();
    });
    const samples = [];
    for (let i = 0; i < ECHO_WARMUP + rounds; i++) {
      const t = now();
      expected += payload.length;
      const message = new Promise((resolve) => { resolveMessage = resolve; });
      socket.write(payload);
      await message;
      if (i >= ECHO_WARMUP) samples.push(now() - t);
    }
    socket.destroy();
    return latencies(samples);
  },
  async pipefile(_url, size, count) {
    return fileSink(async (path) => {
      const socket = net.connect({ host: '127.0.0.1', port: rawPort });
      await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
      socket.write(`s2c ${size} ${count}\n`);
      const started = now();
      await pipeline(socket, createWriteStream(path));
      return { ms: now() - started };
    });
  },
};

// ---------------------------------------------------------------------------

const loadOurs = () => import('../../dist/index.js');
const loadUndici = () => import('undici');

async function oursAdapterPeer() {
  const { WebSocket } = await loadOurs();
  if (typeof WebSocket !== 'function') return null;
  return eventPeer((url) => {
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    return socket;
  }, { sendAndWait: pollBuffered });
}

async function undiciWsPeer() {
  const { WebSocket } = await loadUndici();
  return eventPeer((url) => {
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    return socket;
  }, { sendAndWait: pollBuffered });
}

const PEERS = {
  ours: () => wssPeer(loadOurs, 'read'),
  'ours-forawait': () => wssPeer(loadOurs, 'forawait'),
  'ours-pipeto': () => wssPeer(loadOurs, 'pipeto', { pipefile: true }),
  'ours-tuned': () => wssPeer(loadOurs, 'read'),
  'ours-ws': oursAdapterPeer,
  ws: wsPeer,
  'ws-stream': wsStreamPeer,
  'undici-ws': undiciWsPeer,
  'undici-wss': () => wssPeer(loadUndici, 'read', { pipefile: true }),
  raw: () => rawPeer,
};

async function main() {
  const impl = await PEERS[peer]();
  for (const w of workloads) {
    const fn = impl?.[w.kind];
    let result = null;
    if (fn) {
      const url = `${wsBase}/${w.kind === 'pipefile' ? 's2c' : w.kind}?size=${w.size ?? 0}&count=${w.count ?? 0}`;
      try {
        result = w.kind === 'echo' ? await fn(url, w.rounds) : await fn(url, w.size, w.count);
      } catch (error) {
        result = { error: String(error?.message ?? error) };
      }
    }
    process.send({ type: 'result', id: w.id, result });
  }
  process.send({ type: 'done' }, () => process.exit(0));
}

process.on('disconnect', () => process.exit(1));
main().catch((error) => {
  process.send({ type: 'fatal', error: String(error?.stack ?? error) }, () => process.exit(1));
});
