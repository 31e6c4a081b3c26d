// Hostile opening handshakes, both roles, over loopback: heads that never complete (slowloris),
// heads too large, a 101 dribbled one byte at a time. Each ends within handshakeTimeout with a
// clear error, and the server keeps serving well-behaved clients meanwhile.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { serve, WebSocketError, WebSocketStream, type WebSocketStreamServer } from '../src/index.js';
import { delay, withTimeout } from './helpers/timing.js';
import { handshakeRequest, RawClient } from './helpers/raw-client.js';
import { acceptFor, startRawServer, type RawServer } from './helpers/raw-server.js';

const servers: Array<WebSocketStreamServer | RawServer> = [];
let sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets = [];
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function echoServer(handshakeTimeout: number): Promise<WebSocketStreamServer> {
  const server = await serve({ host: '127.0.0.1', handshakeTimeout }, async (wss) => {
    const { readable, writable } = await wss.opened;
    await readable.pipeTo(writable).catch(() => {}); // clients go away mid-test
  });
  servers.push(server);
  return server;
}

/** Opens `count` TCP connections that each send `bytes` and then nothing; resolves when all are connected. */
async function halfOpen(port: number, count: number, bytes: string): Promise<Array<{ socket: Socket; closedAt: Promise<number> }>> {
  const opened = [];
  for (let i = 0; i < count; i++) {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => {});
    socket.resume(); // read whatever the server answers (408, nothing...)
    const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
    opened.push(new Promise<{ socket: Socket; closedAt: Promise<number> }>((resolve, reject) => {
      socket.once('connect', () => {
        if (bytes !== '') socket.write(bytes);
        resolve({ socket, closedAt });
      });
      socket.once('error', reject);
    }));
  }
  return Promise.all(opened);
}

async function echoOnce(url: string): Promise<string> {
  const ws = new WebSocketStream(url);
  const { readable, writable } = await withTimeout(ws.opened, 4000, 'opened');
  const writer = writable.getWriter();
  await writer.write('hello');
  const { value } = await readable.getReader().read();
  ws.close();
  return value as string;
}

describe('serve(): requests that never complete are dropped at handshakeTimeout', () => {
  it('300 half-open handshakes are each dropped within handshakeTimeout while a good client is served', async () => {
    const timeout = 1000;
    const server = await echoServer(timeout);
    const start = performance.now();
    const half = handshakeRequest('/').split('\r\n').slice(0, 3).join('\r\n');
    const attackers = [
      ...(await halfOpen(server.port, 200, half)),
      ...(await halfOpen(server.port, 100, '')),
    ];
    expect(await echoOnce(server.url)).toBe('hello');
    const closedAt = await withTimeout(Promise.all(attackers.map((a) => a.closedAt)), 8000, 'every half-open socket to be dropped');
    const latest = Math.max(...closedAt) - start;
    const earliest = Math.min(...closedAt) - start;
    expect(earliest).toBeGreaterThanOrEqual(timeout - 50);
    // The last one was opened after the first, and the machine is loaded: a generous margin.
    expect(latest).toBeLessThan(timeout + 3000);
    expect(await echoOnce(server.url)).toBe('hello');
  });

  it('a head trickled one byte every 100 ms is dropped at the deadline, not kept alive by the trickle', async () => {
    const timeout = 800;
    const server = await echoServer(timeout);
    const [attacker] = await halfOpen(server.port, 1, '');
    const start = performance.now();
    const request = handshakeRequest('/');
    let i = 0;
    const trickle = setInterval(() => {
      if (i < request.length - 4 && !attacker!.socket.destroyed) attacker!.socket.write(request[i++]!);
    }, 100);
    try {
      const closedAt = await withTimeout(attacker!.closedAt, 6000, 'the trickling socket to be dropped');
      expect(closedAt - start).toBeLessThan(timeout + 2000);
    } finally {
      clearInterval(trickle);
    }
  });

  it('a connection that completes its handshake in time is not touched by the deadline', async () => {
    const server = await echoServer(500);
    const ws = new WebSocketStream(server.url);
    const { readable, writable } = await withTimeout(ws.opened, 4000, 'opened');
    await delay(900);
    const writer = writable.getWriter();
    await writer.write('still here');
    expect((await readable.getReader().read()).value).toBe('still here');
    ws.close();
  });

  it('a request head larger than node:http allows is refused with 431', async () => {
    const server = await echoServer(2000);
    const client = await RawClient.connect(server.port);
    client.write(handshakeRequest('/', { 'X-Padding': 'a'.repeat(32 * 1024) }));
    const response = await client.readResponse();
    expect(response.status).toBe(431);
    await client.waitForEnd();
    client.destroy();
  });
});

describe('client: handshakeTimeout is a deadline for the whole opening handshake', () => {
  it('a 101 dribbled one byte every 250 ms fails at the deadline', async () => {
    const server = await startRawServer(async (conn) => {
      const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(conn.key)}\r\n\r\n`;
      for (const byte of head) {
        if (conn.socket.destroyed) return;
        conn.socket.write(byte);
        await delay(250);
      }
    });
    servers.push(server);
    const start = performance.now();
    const ws = new WebSocketStream(server.url, { handshakeTimeout: 1000 });
    const error = await withTimeout(ws.opened.then(() => null, (e: unknown) => e), 6000, 'opened to settle');
    const elapsed = performance.now() - start;
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as Error).message).toMatch(/timed out after 1000 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(3000);
    await expect(ws.closed).rejects.toBeInstanceOf(WebSocketError);
  });

  it('a response head larger than node:http allows fails the handshake', async () => {
    const server = await startRawServer(async (conn) => {
      await conn.respond('HTTP/1.1 101 Switching Protocols', [
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Accept: ${acceptFor(conn.key)}`,
        `X-Padding: ${'a'.repeat(32 * 1024)}`,
      ]);
    });
    servers.push(server);
    const ws = new WebSocketStream(server.url, { handshakeTimeout: 4000 });
    const error = await withTimeout(ws.opened.then(() => null, (e: unknown) => e), 6000, 'opened to settle');
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as Error).message).toMatch(/overflow|too large|header/i);
  });
});
