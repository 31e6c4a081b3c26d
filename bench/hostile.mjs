#!/usr/bin/env node
// Hostile peers, side by side: peak RSS growth of OUR client and OUR server under each attack,
// next to `ws` (our devDependency) under the same attack, in one run. Each victim runs in a child
// process of its own (node --expose-gc); this process is the attacker, on raw sockets.
//
//   npm run bench:hostile      (= npm run build && node bench/hostile.mjs)
//   node bench/hostile.mjs [--runs 3] [--only fragments,pings,...] [--impls ours,ws]
//
// Attacks (each in the client role against a raw server, and the server role against a raw client):
//   volume      not an attack: 16 MiB as 16 ordinary 1 MiB messages, for scale (reading that much
//               costs peak RSS too, in socket chunks the GC has not collected yet)
//   fragments   one binary message as 2,000,000 one-byte frames (2 MB of payload)
//   pings       500,000 pings of 125 bytes from a peer that never reads, then a text "done"
//   dribble     a 768 KiB binary message in one-byte TCP writes
//   never-reads the victim writes 64 x 1 MiB to a peer that never reads, and is pinged 200,000 times
//   slowloris   (server) 2,000 connections send half an upgrade request; handshakeTimeout 2 s
//   slow-101    (client) a 101 dribbled one byte every 250 ms; handshakeTimeout 2 s
// Figures: the median over --runs of peak RSS minus the RSS at the start of the attack (after a
// GC), and what the victim saw (the message delivered, the close code, time to drop...).
// Output: a table, then the JSON.

import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const ATTACKS = ['volume', 'fragments', 'pings', 'dribble', 'never-reads', 'slowloris', 'slow-101'];
const HANDSHAKE_TIMEOUT = 2000;
/** Longest any attack may run before the victim's state is taken as it is. */
const ATTACK_LIMIT_MS = 30_000;
/** How long a flood is watched when the victim may stop reading it (then its state is taken). */
const FLOOD_WATCH_MS = 4000;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    only: { type: 'string', default: ATTACKS.join(',') },
    impls: { type: 'string', default: 'ours,ws' },
    victim: { type: 'string' },
  },
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------------------------
// Frames (attacker side)
// ------------------------------------------------------------------------------------------------

function header(fin, opcode, length, masked) {
  const bytes = [(fin ? 0x80 : 0) | opcode];
  const m = masked ? 0x80 : 0;
  if (length < 126) bytes.push(m | length);
  else if (length < 65536) bytes.push(m | 126, length >> 8, length & 0xff);
  else bytes.push(m | 127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
  // A zero mask: legal, and the payload stays as it is.
  if (masked) bytes.push(0, 0, 0, 0);
  return Buffer.from(bytes);
}

const frame = (fin, opcode, payload, masked) => Buffer.concat([header(fin, opcode, payload.length, masked), payload]);

/** 2,000,000 one-byte frames: the first binary, the rest continuations, the last with FIN. */
function fragmentFlood(count, masked) {
  const size = masked ? 7 : 3;
  const out = Buffer.alloc(count * size);
  for (let i = 0; i < count; i++) {
    const at = i * size;
    out[at] = (i === count - 1 ? 0x80 : 0) | (i === 0 ? 0x2 : 0x0);
    out[at + 1] = (masked ? 0x80 : 0) | 1;
    out[at + size - 1] = 0x61;
  }
  return out;
}

function pingFlood(count, masked) {
  const one = frame(true, 0x9, Buffer.alloc(125, 0x70), masked);
  return Buffer.concat(Array.from({ length: count }, () => one));
}

/** Resolves when the socket drains or goes away (never rejects). */
function drained(socket) {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** Writes `bytes` in pieces as fast as the victim takes them; resolves when written or the socket is gone. */
async function writeAll(socket, bytes, piece = 1 << 20) {
  for (let at = 0; at < bytes.length && !socket.destroyed; at += piece) {
    if (!socket.write(bytes.subarray(at, at + piece))) await drained(socket);
  }
}

/** One byte per write, each its own TCP segment (Nagle off, one write per turn of the loop). */
async function dribble(socket, bytes) {
  for (let at = 0; at < bytes.length && !socket.destroyed; at += 1) {
    if (!socket.write(bytes.subarray(at, at + 1))) await drained(socket);
    if ((at & 0x3ff) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

// ------------------------------------------------------------------------------------------------
// The victim (child process)
// ------------------------------------------------------------------------------------------------

async function victim(spec) {
  const [impl, role] = spec.split(':');
  const lib = impl === 'ours' ? await import('../dist/index.js') : await import('ws');
  let peak = 0;
  let baseline = 0;
  let sampler = null;
  const events = [];
  const send = (message) => process.send(message);
  const note = (event) => {
    events.push(event);
    send({ type: 'event', event });
  };
  const writeBig = async (write) => {
    for (let i = 0; i < 64; i++) write(new Uint8Array(MiB));
  };
  let writeOnOpen = false;

  process.on('message', async (message) => {
    if (message.type === 'baseline') {
      globalThis.gc();
      globalThis.gc();
      baseline = peak = process.memoryUsage().rss;
      sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 10);
      send({ type: 'baseline' });
    } else if (message.type === 'write-on-open') {
      writeOnOpen = true;
      send({ type: 'ok' });
    } else if (message.type === 'report') {
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      send({ type: 'report', growthMiB: (peak - baseline) / MiB, events });
    } else if (message.type === 'connect') {
      if (impl === 'ours') {
        const ws = new lib.WebSocketStream(message.url, { perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT });
        const started = performance.now();
        ws.closed.then((c) => note(`closed ${c.closeCode}`), (e) => note(`closed ${e.closeCode ?? ''} ${String(e.message).slice(0, 80)}`));
        try {
          const { readable, writable } = await ws.opened;
          if (writeOnOpen) {
            const writer = writable.getWriter();
            writeBig((chunk) => writer.write(chunk).catch(() => {}));
          }
          for await (const data of readable) note(`message ${typeof data === 'string' ? data : data.byteLength}`);
        } catch (error) {
          note(`failed after ${Math.round(performance.now() - started)} ms: ${String(error.message).slice(0, 80)}`);
        }
      } else {
        const started = performance.now();
        const ws = new lib.WebSocket(message.url, { perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT });
        ws.on('open', () => {
          if (writeOnOpen) writeBig((chunk) => ws.send(chunk));
        });
        ws.on('message', (data, isBinary) => note(`message ${isBinary ? data.length : data.toString()}`));
        ws.on('error', (error) => note(`failed after ${Math.round(performance.now() - started)} ms: ${String(error.message).slice(0, 80)}`));
        ws.on('close', (code) => note(`closed ${code}`));
      }
    }
  });

  if (role === 'server') {
    let port;
    if (impl === 'ours') {
      const server = await lib.serve({ host: '127.0.0.1', handshakeTimeout: HANDSHAKE_TIMEOUT, onError() {} }, async (wss) => {
        wss.closed.then((c) => note(`closed ${c.closeCode}`), (e) => note(`closed ${e.closeCode ?? ''} ${String(e.message).slice(0, 80)}`));
        const { readable, writable } = await wss.opened;
        if (writeOnOpen) {
          const writer = writable.getWriter();
          writeBig((chunk) => writer.write(chunk).catch(() => {}));
        }
        try {
          for await (const data of readable) note(`message ${typeof data === 'string' ? data : data.byteLength}`);
        } catch {
          // reported by closed
        }
      });
      port = server.port;
    } else {
      const { createServer: createHttpServer } = await import('node:http');
      const http = createHttpServer((_req, res) => res.writeHead(426).end());
      const wss = new lib.WebSocketServer({ server: http, perMessageDeflate: false });
      wss.on('connection', (ws) => {
        if (writeOnOpen) writeBig((chunk) => ws.send(chunk));
        ws.on('message', (data, isBinary) => note(`message ${isBinary ? data.length : data.toString()}`));
        ws.on('close', (code) => note(`closed ${code}`));
        ws.on('error', (error) => note(`failed: ${String(error.message).slice(0, 80)}`));
      });
      await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
      port = http.address().port;
    }
    send({ type: 'listening', port });
  } else {
    send({ type: 'ready' });
  }
}

// ------------------------------------------------------------------------------------------------
// The attacker (this process)
// ------------------------------------------------------------------------------------------------

class Child {
  constructor(impl, role) {
    this.proc = fork(SELF, ['--victim', `${impl}:${role}`], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.events = [];
    this.waiters = [];
    this.proc.on('message', (message) => {
      if (message.type === 'event') this.events.push(message.event);
      for (const waiter of this.waiters.splice(0)) waiter(message);
    });
  }

  next(type, ms = ATTACK_LIMIT_MS) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`victim: no ${type} in ${ms} ms`)), ms);
      const check = (message) => {
        if (message.type === type) {
          clearTimeout(timer);
          resolve(message);
        } else {
          this.waiters.push(check);
        }
      };
      this.waiters.push(check);
    });
  }

  /** Resolves once an event matching `pattern` arrived, or after `ms` (returns whether it did). */
  async until(pattern, ms = ATTACK_LIMIT_MS) {
    const deadline = performance.now() + ms;
    while (performance.now() < deadline) {
      if (this.events.some((e) => pattern.test(e))) return true;
      await sleep(20);
    }
    return false;
  }

  async ask(type, reply = type) {
    const answer = this.next(reply);
    this.proc.send({ type });
    return answer;
  }

  kill() {
    this.proc.kill('SIGKILL');
  }
}

/** A raw server for the client role: answers the upgrade, then hands the socket over. */
async function rawServer(onSocket, { answer = true } = {}) {
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.setNoDelay(true);
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      socket.pause();
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head.toString('latin1'))?.[1] ?? '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      const response = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
      if (answer) socket.write(response);
      onSocket(socket, response);
    };
    socket.on('data', onData);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.on('error', () => {});
  return {
    url: `ws://127.0.0.1:${server.address().port}/`,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** A raw client for the server role: upgrades, then hands the socket over (paused: it never reads). */
async function rawClient(port) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.setNoDelay(true);
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = await once(socket, 'data');
    head = Buffer.concat([head, chunk]);
  }
  socket.pause();
  return socket;
}

/** Each attack: what the attacker sends once the victim's connection is open. `masked`: server role. */
const ATTACK_BYTES = {
  volume: async (socket, masked, child) => {
    const one = frame(true, 0x2, Buffer.alloc(MiB, 0x61), masked);
    await writeAll(socket, Buffer.concat(Array.from({ length: 16 }, () => one)));
    const deadline = performance.now() + ATTACK_LIMIT_MS;
    while (child.events.filter((e) => e.startsWith('message')).length < 16 && performance.now() < deadline) await sleep(20);
    return child.events.filter((e) => e.startsWith('message')).length === 16;
  },
  fragments: async (socket, masked, child) => {
    await writeAll(socket, fragmentFlood(2_000_000, masked));
    return child.until(/message|closed/);
  },
  // The flood is not awaited: a victim that stops reading (backpressure) never lets it finish.
  pings: async (socket, masked, child) => {
    void writeAll(socket, Buffer.concat([pingFlood(500_000, masked), frame(true, 0x1, Buffer.from('done'), masked)]));
    return child.until(/message done|closed|failed/, FLOOD_WATCH_MS);
  },
  dribble: async (socket, masked, child) => {
    await dribble(socket, frame(true, 0x2, Buffer.alloc(768 * 1024, 0x61), masked));
    return child.until(/message|closed/);
  },
  'never-reads': async (socket, masked, child) => {
    await sleep(300); // the victim's 64 MiB of writes stall first
    void writeAll(socket, Buffer.concat([pingFlood(200_000, masked), frame(true, 0x1, Buffer.from('done'), masked)]));
    return child.until(/message done|closed|failed/, FLOOD_WATCH_MS);
  },
};

async function runAttack(attack, impl, role) {
  const child = new Child(impl, role);
  try {
    const started = performance.now();
    if (attack === 'slowloris') {
      if (role !== 'server') return null;
      const { port } = await child.next('listening');
      await child.ask('baseline');
      const half = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n';
      const closedAt = [];
      const sockets = [];
      for (let i = 0; i < 2000; i++) {
        const s = connect(port, '127.0.0.1');
        let connectedAt = -1;
        s.on('error', () => {});
        s.once('connect', () => {
          connectedAt = performance.now();
          s.write(half);
        });
        // How long each connection lived, from its connect to its drop.
        s.once('close', () => closedAt.push(connectedAt < 0 ? 0 : performance.now() - connectedAt));
        sockets.push(s);
        if (i % 200 === 199) await sleep(10);
      }
      await sleep(300);
      // A well-behaved client in the middle of it: how long its handshake takes.
      const goodStart = performance.now();
      const good = await rawClient(port).then(() => Math.round(performance.now() - goodStart), () => -1);
      const deadline = performance.now() + 4 * HANDSHAKE_TIMEOUT;
      while (closedAt.length < sockets.length && performance.now() < deadline) await sleep(50);
      const { growthMiB } = await child.ask('report');
      for (const s of sockets) s.destroy();
      closedAt.sort((a, b) => a - b);
      return {
        growthMiB,
        perPendingKiB: (growthMiB * 1024) / sockets.length,
        outcome: `${closedAt.length}/2000 dropped within ${Math.round((deadline - started) / 1000)} s` +
          (closedAt.length ? `, each after ${Math.round(closedAt[0])}-${Math.round(closedAt.at(-1))} ms` : '') + `; good client's handshake ${good} ms`,
      };
    }
    if (attack === 'slow-101') {
      if (role !== 'client') return null;
      await child.next('ready');
      const server = await rawServer(async (socket, response) => {
        for (const byte of response) {
          if (socket.destroyed) return;
          socket.write(byte);
          await sleep(250);
        }
      }, { answer: false });
      await child.ask('baseline');
      const t0 = performance.now();
      child.proc.send({ type: 'connect', url: server.url });
      const failed = await child.until(/failed|closed/, 4 * HANDSHAKE_TIMEOUT);
      const { growthMiB } = await child.ask('report');
      server.close();
      return { growthMiB, outcome: failed ? `failed after ${Math.round(performance.now() - t0)} ms` : `still waiting after ${4 * HANDSHAKE_TIMEOUT} ms` };
    }

    const masked = role === 'server';
    const writeOnOpen = attack === 'never-reads';
    let socket;
    let close = () => {};
    if (role === 'server') {
      const { port } = await child.next('listening');
      if (writeOnOpen) await child.ask('write-on-open', 'ok');
      socket = await rawClient(port);
    } else {
      await child.next('ready');
      if (writeOnOpen) await child.ask('write-on-open', 'ok');
      let resolveSocket;
      const gotSocket = new Promise((resolve) => { resolveSocket = resolve; });
      const server = await rawServer((s) => resolveSocket(s));
      close = () => server.close();
      child.proc.send({ type: 'connect', url: server.url });
      socket = await gotSocket;
    }
    await sleep(200);
    await child.ask('baseline');
    const t0 = performance.now();
    const finished = await ATTACK_BYTES[attack](socket, masked, child);
    const elapsed = Math.round(performance.now() - t0);
    await sleep(100);
    const { growthMiB, events } = await child.ask('report');
    socket.destroy();
    close();
    const seen = events.filter((e) => /message|closed|failed/.test(e)).slice(0, 2).join('; ') || 'nothing';
    return { growthMiB, outcome: `${finished ? '' : 'not finished (reading stopped?): '}${seen} (${elapsed} ms)` };
  } finally {
    child.kill();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const runs = Number(values.runs);
  const attacks = values.only.split(',');
  const impls = values.impls.split(',');
  const results = [];
  for (const attack of attacks) {
    for (const role of ['client', 'server']) {
      const row = { attack, role };
      let any = false;
      for (const impl of impls) {
        const samples = [];
        let outcome = '';
        const perPending = [];
        for (let run = 0; run < runs; run++) {
          const result = await runAttack(attack, impl, role);
          if (result === null) break;
          samples.push(result.growthMiB);
          if (result.perPendingKiB !== undefined) perPending.push(result.perPendingKiB);
          outcome = result.outcome;
        }
        if (samples.length === 0) continue;
        any = true;
        row[impl] = {
          peakRssGrowthMiB: Math.round(median(samples) * 10) / 10,
          samplesMiB: samples.map((x) => Math.round(x * 10) / 10),
          ...(perPending.length ? { perPendingHandshakeKiB: Math.round(median(perPending) * 10) / 10 } : {}),
          lastOutcome: outcome,
        };
      }
      if (any) {
        results.push(row);
        const cells = impls.map((impl) => row[impl] ? `${impl} +${row[impl].peakRssGrowthMiB} MiB` : '').join(' | ');
        console.log(`${attack.padEnd(12)} ${role.padEnd(7)} ${cells}`);
        for (const impl of impls) if (row[impl]) console.log(`    ${impl}: ${row[impl].lastOutcome}`);
      }
    }
  }
  console.log('\n| attack | role | ' + impls.map((i) => `${i} peak RSS growth (median)`).join(' | ') + ' |');
  console.log('|---|---|' + impls.map(() => '---:').join('|') + '|');
  for (const row of results) {
    console.log(`| ${row.attack} | ${row.role} | ${impls.map((i) => (row[i] ? `+${row[i].peakRssGrowthMiB} MiB` : '')).join(' | ')} |`);
  }
  console.log(JSON.stringify({ node: process.version, runs, results }, null, 2));
}

if (values.victim) await victim(values.victim);
else await main();
