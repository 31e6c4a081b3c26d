// The built package (dist/) on Bun and Deno, over real loopback sockets, in both roles:
// - as a client, against our Node server (acceptWebSocketStream) and a `ws` server;
// - as a server (serve() and acceptWebSocketStream on the runtime's node:http), against a `ws`
//   client and our Node client.
// Handshake with subprotocols, echo, close codes both ways, refused and failed handshakes,
// cancel/abort with a WebSocketError, an unclean close, and read backpressure reaching TCP: while
// the runtime does not read, a flood stalls at the Node sender and the runtime's memory stays flat.
// Node runs the same scenarios, so a difference between runtimes shows up as a failing runtime.
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsClient, type WebSocket } from 'ws';
import { acceptWebSocketStream, WebSocketError, WebSocketStream, type WebSocketClosedInfo } from '../../src/index.js';
import { cleanup, onCleanup } from '../helpers/cleanup.js';
import { delay, withTimeout } from '../helpers/timing.js';
import { startWsPeer, waitForStall } from '../helpers/ws-peer.js';
import { startUpgradeServer } from '../helpers/upgrade-server.js';
import { closedPort } from '../helpers/raw-server.js';
import { available, RUNTIMES, startPeer, type Line, type Peer, type Runtime } from './runtime-peer.js';

afterEach(cleanup);

const KiB = 1024;
const MiB = 1024 * KiB;
const MESSAGE = 64 * KiB;
const FRAME = MESSAGE + 10;
const FLOOD = 512; // 32 MiB

const NODE: Runtime = { name: 'Node', executable: process.execPath, args: ['--expose-gc'] };

function message(seq: number): Buffer {
  const bytes = Buffer.alloc(MESSAGE, seq & 0xff);
  bytes.writeUInt32BE(seq, 0);
  return bytes;
}

/** Hands `count` messages to ws, a few per macrotask; returns a live count of bytes handed over. */
function flood(ws: WebSocket, count: number): { sent: () => number; done: Promise<void> } {
  let sent = 0;
  const done = (async () => {
    for (let seq = 0; seq < count; seq++) {
      ws.send(message(seq));
      sent += FRAME;
      if (seq % 8 === 7) await nextMacrotask();
    }
  })();
  return { sent: () => sent, done };
}

async function rss(peer: Peer): Promise<number> {
  const before = peer.lines.length;
  peer.send('rss');
  const line = await peer.next((l, i = peer.lines.indexOf(l)) => i >= before && typeof l.rss === 'number', 'rss');
  return line.rss as number;
}

/**
 * The flood of FLOOD messages stalls at `ws` while the peer holds its stream unread; the peer's
 * memory does not follow; then the peer reads every message, in order.
 */
async function expectBackpressure(peer: Peer, ws: WebSocket): Promise<void> {
  const rssBefore = await rss(peer);
  const { sent, done } = flood(ws, FLOOD);
  await withTimeout(done, 15_000, 'the flood to be handed to ws');
  const flushed = await waitForStall(ws, sent, 750, 15_000);
  // Most of the 32 MiB is still at the sender: the kernel buffers filled and TCP's window closed.
  expect(ws.bufferedAmount).toBeGreaterThan(16 * MiB);
  expect(flushed).toBeLessThan(sent() - 16 * MiB);
  const rssStalled = await rss(peer);
  // What left the sender sits in kernel buffers, not in the runtime: its memory stays flat (within
  // the runtime's own noise), where a reader without backpressure would hold the 28 MiB.
  expect(rssStalled - rssBefore).toBeLessThan(12 * MiB);
  // Nothing moves while nobody reads.
  await delay(300);
  expect(sent() - ws.bufferedAmount).toBe(flushed);

  peer.send('read');
  ws.close(1000); // queued behind the flood
  const drained = await peer.next((l) => 'drained' in l, 'the drained flood', 30_000);
  expect(drained).toMatchObject({ count: FLOOD, bytes: FLOOD * MESSAGE, inOrder: true });
}

interface NodeServer {
  url: string;
  /** How each connection ended, by path, on the Node side. */
  closed: Map<string, Promise<WebSocketClosedInfo | { error: unknown }>>;
  /** The `ws` connection of /flood (ws server only). */
  floodConnection?: () => Promise<WebSocket>;
}

/** Our Node server: acceptWebSocketStream on node:http. */
async function startOurServer(): Promise<NodeServer> {
  const closed: NodeServer['closed'] = new Map();
  const server = await startUpgradeServer((request: IncomingMessage, socket, head) => {
    const path = request.url ?? '/';
    const wss = acceptWebSocketStream(request, socket, head, {
      protocols: ['chat.v1'],
      verify: () => !path.startsWith('/refuse'),
    });
    closed.set(path, wss.closed.catch((error: unknown) => ({ error })));
    void wss.opened.then(async ({ readable, writable }) => {
      if (path === '/echo') await readable.pipeTo(writable).catch(() => {});
      if (path === '/server-close') wss.close({ closeCode: 4001, reason: 'server bye' });
      if (path === '/destroy') socket.destroy();
    }, () => {});
  });
  onCleanup(() => server.close());
  return { url: server.url, closed };
}

/** A `ws` server with the same paths; with permessage-deflate on request. */
async function startReferenceServer(perMessageDeflate = false): Promise<NodeServer> {
  const closed: NodeServer['closed'] = new Map();
  const server = await startWsPeer({
    perMessageDeflate,
    handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false),
    verifyClient: ({ req }: { req: IncomingMessage }) => !(req.url ?? '').startsWith('/refuse'),
  });
  let floodConnection: (ws: WebSocket) => void;
  const flooded = new Promise<WebSocket>((resolve) => (floodConnection = resolve));
  server.wss.on('connection', (ws: WebSocket, request: IncomingMessage) => {
    const path = request.url ?? '/';
    closed.set(path, new Promise((resolve) => ws.once('close', (code, reason) => resolve({ closeCode: code, reason: reason.toString() }))));
    if (path === '/echo') ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    if (path === '/server-close') ws.close(4001, 'server bye');
    if (path === '/destroy') ws.terminate();
    if (path === '/flood') floodConnection(ws);
  });
  return { url: server.url, closed, floodConnection: () => withTimeout(flooded, 5_000, 'the flood connection') };
}

const CERT = fileURLToPath(new URL('../fixtures/tls/cert.pem', import.meta.url));
const KEY = fileURLToPath(new URL('../fixtures/tls/key.pem', import.meta.url));

async function runClient(runtime: Runtime, scenario: string, url: string): Promise<Line> {
  const peer = startPeer(runtime, ['client', scenario, url], { WSS_CA: CERT });
  const line = await peer.next((l) => 'result' in l || 'error' in l, `the ${scenario} scenario`);
  if ('error' in line) throw new Error(`${scenario} on ${runtime.name}: ${JSON.stringify(line.error)}\n${peer.stderr()}`);
  return line.result as Line;
}

function clientSuite(runtime: Runtime): void {
  const servers = [
    ['our Node server', startOurServer, ''],
    ['a ws server', () => startReferenceServer(), ''],
    ['a ws server with permessage-deflate', () => startReferenceServer(true), 'permessage-deflate'],
  ] as const;
  for (const [serverName, start, extensions] of servers) {
    describe(`${runtime.name} client against ${serverName}`, () => {
      it('opens with a subprotocol, echoes text and binary, closes with a code and reason', async () => {
        const server = await start();
        const result = await runClient(runtime, 'echo', server.url);
        expect(result).toEqual({
          protocol: 'chat.v1',
          extensions,
          received: ['héllo 😀', ['Uint8Array', 4, 0, 255], ['Uint8Array', 200_000, 7, 7]],
          // The reason the server echoes is its own business; the code is the client's.
          closed: expect.objectContaining({ closeCode: 4000 }),
        });
        expect(await server.closed.get('/echo')).toEqual({ closeCode: 4000, reason: 'client bye' });
      });

      it('the package\'s classic WebSocket: echo and close', async () => {
        const server = await start();
        const result = await runClient(runtime, 'classic', server.url);
        expect(result).toMatchObject({ protocol: 'chat.v1', received: ['classic', [1, 2, 3], { code: 4005, wasClean: true }] });
        expect(await server.closed.get('/echo')).toEqual({ closeCode: 4005, reason: 'classic bye' });
      });

      it('sees the server\'s close code and reason', async () => {
        const server = await start();
        expect(await runClient(runtime, 'server-close', server.url)).toEqual({ done: true, closed: { closeCode: 4001, reason: 'server bye' } });
      });

      it('rejects opened and closed with WebSocketErrors when the handshake is refused', async () => {
        const server = await start();
        const result = await runClient(runtime, 'refused', server.url);
        // opened's closeCode is the same as on Node (see test/websocketstream-api.test.ts).
        expect(result).toMatchObject({ opened: { name: 'WebSocketError' }, closed: { name: 'WebSocketError', closeCode: 1006 } });
        expect((result.opened as Line).message).toMatch(/40[13]/);
      });

      it('passes the close code of a WebSocketError given to cancel() and abort()', async () => {
        const server = await start();
        expect(await runClient(runtime, 'cancel', server.url)).toMatchObject({ closed: { closeCode: 4002 } });
        expect(await server.closed.get('/echo')).toEqual({ closeCode: 4002, reason: 'cancelled' });
        server.closed.clear();
        expect(await runClient(runtime, 'abort', server.url)).toMatchObject({ closed: { closeCode: 4003 } });
        expect(await server.closed.get('/echo')).toEqual({ closeCode: 4003, reason: 'aborted' });
      });

      it('errors the readable and rejects closed with one WebSocketError (1006) when the server drops the connection', async () => {
        const server = await start();
        expect(await runClient(runtime, 'unclean', server.url)).toMatchObject({
          read: { name: 'WebSocketError', closeCode: 1006 },
          closed: { name: 'WebSocketError', closeCode: 1006 },
          same: true,
        });
      });
    });
  }

  describe(`${runtime.name} client: failures before the handshake`, () => {
    it('an aborted signal rejects both promises with its reason; a refused connection with WebSocketErrors', async () => {
      const server = await startOurServer();
      expect(await runClient(runtime, 'abort-handshake', server.url)).toMatchObject({
        opened: { message: 'changed my mind' },
        closed: { message: 'changed my mind' },
      });
      const result = await runClient(runtime, 'refused', `ws://127.0.0.1:${await closedPort()}`);
      expect(result).toMatchObject({ opened: { name: 'WebSocketError' }, closed: { name: 'WebSocketError', closeCode: 1006 } });
      expect((result.opened as Line).message).toMatch(/ECONNREFUSED|refused/i);
    });
  });

  describe(`${runtime.name} client over TLS`, () => {
    it('opens a wss: connection to our Node server on https, trusting a given CA', async () => {
      const https = createHttpsServer({ key: readFileSync(KEY), cert: readFileSync(CERT) });
      https.on('upgrade', (request: IncomingMessage, socket, head) => {
        const wss = acceptWebSocketStream(request, socket, head);
        void wss.opened.then(({ readable, writable }) => readable.pipeTo(writable)).catch(() => {});
      });
      await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
      onCleanup(() => new Promise<void>((resolve) => {
        https.closeAllConnections();
        https.close(() => resolve());
      }));
      const url = `wss://127.0.0.1:${(https.address() as AddressInfo).port}`;
      expect(await runClient(runtime, 'tls', url)).toEqual({ echoed: 'over TLS', closed: { closeCode: 1005, reason: '' } });
    });
  });

  describe(`${runtime.name} client: read backpressure`, () => {
    it('a ws server\'s flood stalls at the server while the client does not read; client memory stays flat; every message arrives', async () => {
      const server = await startReferenceServer();
      const peer = startPeer(runtime, ['client', 'hold', server.url]);
      await peer.next((l) => 'result' in l, 'the held connection');
      await expectBackpressure(peer, await server.floodConnection!());
    });
  });
}

async function startServerPeer(runtime: Runtime): Promise<{ peer: Peer; urls: Array<[string, string]> }> {
  const peer = startPeer(runtime, ['server']);
  const { listening } = await peer.next((l) => 'listening' in l, 'listening') as { listening: { serve: number; accept: number } };
  return { peer, urls: [['serve()', `ws://127.0.0.1:${listening.serve}`], ['acceptWebSocketStream', `ws://127.0.0.1:${listening.accept}`]] };
}

function openWs(url: string, protocols?: string[], perMessageDeflate = true): Promise<WebSocket> {
  const ws = new WsClient(url, protocols, { perMessageDeflate });
  onCleanup(() => ws.terminate());
  return withTimeout(new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
  }), 5_000, `ws ${url}`);
}

function serverSuite(runtime: Runtime): void {
  describe(`${runtime.name} server (serve() and acceptWebSocketStream on its node:http)`, () => {
    it('a ws client and our Node client: subprotocol, echo, close codes both ways, refusal', async () => {
      const { peer, urls } = await startServerPeer(runtime);
      for (const [, base] of urls) {
        // ws client: echo, then it closes with a code the server sees.
        const ws = await openWs(`${base}/echo`, ['chat.v2', 'chat.v1']);
        expect(ws.protocol).toBe('chat.v1');
        expect(ws.extensions).toMatch(/^permessage-deflate/);
        let pings = 0;
        ws.on('ping', () => pings++);
        const received: unknown[] = [];
        const got = new Promise<void>((resolve) => ws.on('message', (data: Buffer, isBinary) => {
          received.push(isBinary ? [...data.subarray(0, 2), data.byteLength] : data.toString());
          if (received.length === 2) resolve();
        }));
        ws.send('héllo 😀');
        ws.send(Buffer.alloc(300_000, 5));
        await withTimeout(got, 10_000, 'echo');
        expect(received).toEqual(['héllo 😀', [5, 5, 300_000]]);
        // keepaliveInterval (200 ms): the server pings through the runtime's timers and sockets.
        for (let i = 0; i < 100 && pings === 0; i++) await delay(50);
        expect(pings).toBeGreaterThan(0);
        const closing = peer.lines.length;
        ws.close(4000, 'client bye');
        await peer.next((l) => peer.lines.indexOf(l) >= closing && l.closed === '/echo', 'the server to see the close');
        expect(peer.lines.slice(closing).find((l) => l.closed === '/echo')).toEqual({ closed: '/echo', closeCode: 4000, reason: 'client bye' });

        // Our client: the server closes with its own code.
        const wss = new WebSocketStream(`${base}/server-close`, { protocols: ['chat.v1'] });
        expect(await withTimeout(wss.opened, 5_000, 'opened')).toMatchObject({ protocol: 'chat.v1', extensions: expect.stringMatching(/^permessage-deflate/) });
        expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 4001, reason: 'server bye' });

        // verify() refuses: the client sees 403.
        const refused = new WebSocketStream(`${base}/refuse`);
        const error = await withTimeout(refused.opened.then(() => null, (e: unknown) => e), 5_000, 'refusal');
        expect(error).toBeInstanceOf(WebSocketError);
        expect(String((error as Error).message)).toMatch(/403/);
      }
    });

    it('read backpressure: a ws client\'s flood stalls at the client while the server does not read; server memory stays flat', async () => {
      const { peer, urls } = await startServerPeer(runtime);
      for (const [how, base] of urls) {
        // Without compression: a compressed flood of repeated bytes would fit in the kernel buffers.
        const ws = await openWs(`${base}/hold`, undefined, false);
        await peer.next((l) => l.accepted === '/hold', `${how} to accept`);
        await expectBackpressure(peer, ws);
        peer.lines.length = 0; // the next round's lines only
      }
    });
  });
}

for (const runtime of [NODE, ...RUNTIMES]) {
  describe.skipIf(!available(runtime))(runtime.name, () => {
    it('import \'websocketstream\' gives the Node build (not the browser entry)', async () => {
      const peer = startPeer(runtime, ['resolve']);
      expect(await peer.next((l) => 'result' in l, 'the resolved package')).toEqual({ result: { serve: 'function', browserEntry: false } });
    });
    clientSuite(runtime);
    serverSuite(runtime);
  });
}
