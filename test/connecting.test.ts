// How the client reaches a server besides plain TCP: a Unix socket (socketPath), the application's
// own stream (createConnection), credentials in the URL, redirects, and the client's keepalive.
// Real servers on 127.0.0.1 or in a temporary directory, stopped after each test.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { Duplex } from 'node:stream';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { acceptWebSocketStream, WebSocketError, WebSocketStream } from '../src/index.js';
import type { WebSocketStreamOptions } from '../src/index.js';
import { stopProcess, TLS_CERT, TLS_KEY } from './helpers/proxies.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, rejectionOf, settledWithin, NOT_SETTLED, withTimeout } from './helpers/timing.js';
import { startWsPeer } from './helpers/ws-peer.js';

afterEach(cleanup);

/** Opens, sends one message, returns the echo, closes cleanly. */
async function echoThrough(url: string, options: WebSocketStreamOptions, message: string | Uint8Array = 'hello'): Promise<unknown> {
  const wss = new WebSocketStream(url, options);
  const { readable, writable } = await withTimeout(wss.opened, 10_000, 'opened');
  await writable.getWriter().write(message);
  const { value } = await withTimeout(readable.getReader().read(), 10_000, 'the echo');
  wss.close();
  await withTimeout(wss.closed, 10_000, 'closed');
  return value;
}

/** Our own server (acceptWebSocketStream) echoing, on `server`; records each request's URL and headers. */
function acceptEcho(server: Server): Array<{ url: string; headers: IncomingHttpHeaders }> {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', async (request, socket, head) => {
    seen.push({ url: request.url ?? '', headers: request.headers });
    const wss = acceptWebSocketStream(request, socket, head);
    try {
      const { readable, writable } = await wss.opened;
      await readable.pipeTo(writable);
    } catch {
      // the test ended the connection
    }
  });
  onCleanup(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return seen;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-connect-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('socketPath', () => {
  it('connects over a Unix socket; Host and path come from the URL', async () => {
    const path = join(await tempDir(), 'ws.sock');
    const server = createHttpServer();
    const seen = acceptEcho(server);
    server.listen(path);
    await once(server, 'listening');
    expect(await echoThrough('ws://my.service/chat?room=1', { socketPath: path })).toBe('hello');
    const big = new Uint8Array(4 * 1024 * 1024).map((_, i) => i * 13);
    const echoed = await echoThrough('ws://my.service/', { socketPath: path, perMessageDeflate: false }, big);
    expect(Buffer.from(echoed as Uint8Array).equals(Buffer.from(big))).toBe(true);
    expect(seen[0]).toMatchObject({ url: '/chat?room=1', headers: { host: 'my.service' } });
  });

  it('wss: over a Unix socket (TLS checked against the URL\'s host)', async () => {
    const path = join(await tempDir(), 'wss.sock');
    const server = createHttpsServer({ key: TLS_KEY, cert: TLS_CERT });
    const seen = acceptEcho(server);
    server.listen(path);
    await once(server, 'listening');
    expect(await echoThrough('wss://localhost:8443/x', { socketPath: path, ca: TLS_CERT })).toBe('hello');
    expect(seen[0]!.headers.host).toBe('localhost:8443');
  });

  it('a socket path where nothing listens rejects opened', async () => {
    const path = join(await tempDir(), 'none.sock');
    const error = await rejectionOf(new WebSocketStream('ws://x/', { socketPath: path }).opened);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as Error).message).toMatch(/Connection failed: .*ENOENT/);
    expect(((error) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_CONNECTION_FAILED');
  });
});

describe('createConnection', () => {
  it('returns the stream to use (Node\'s convention): any host name, our socket', async () => {
    const server = createHttpServer();
    const seen = acceptEcho(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const calls: unknown[] = [];
    const createConnection = (options: { host: string; port: number; secure: boolean }) => {
      calls.push({ host: options.host, port: options.port, secure: options.secure });
      return netConnect(port, '127.0.0.1');
    };
    expect(await echoThrough('ws://service.internal:1234/a', { createConnection })).toBe('hello');
    expect(calls).toEqual([{ host: 'service.internal', port: 1234, secure: false }]);
    expect(seen[0]!.headers.host).toBe('service.internal:1234');
  });

  it('can answer through the callback, and does TLS itself for wss:', async () => {
    const server = createHttpsServer({ key: TLS_KEY, cert: TLS_CERT });
    acceptEcho(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const createConnection = (options: object, callback: (error: Error | null, stream?: Socket) => void) => {
      setTimeout(() => callback(null, tlsConnect({ ...options, host: '127.0.0.1', port })), 10);
    };
    expect(await echoThrough('wss://localhost/', { createConnection, ca: TLS_CERT })).toBe('hello');
  });

  it('any Duplex will do, not only a socket (an SSH channel, a stream in a test)', async () => {
    const server = createHttpServer();
    acceptEcho(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    // A plain Duplex relaying to a socket, with backpressure both ways, and no socket methods.
    const createConnection = () => {
      const socket = netConnect(port, '127.0.0.1');
      const stream = new Duplex({
        read: () => void socket.resume(),
        write: (chunk, _encoding, callback) => void socket.write(chunk, callback),
        final: (callback) => void socket.end(callback),
        destroy: (error, callback) => { socket.destroy(); callback(error); },
      });
      socket.on('data', (chunk) => { if (!stream.push(chunk)) socket.pause(); });
      socket.on('end', () => stream.push(null));
      socket.on('error', (error) => stream.destroy(error));
      return stream;
    };
    const big = new Uint8Array(2 * 1024 * 1024).map((_, i) => i * 7);
    const echoed = await echoThrough('ws://relay/', { createConnection, keepaliveInterval: 1_000, perMessageDeflate: false }, big);
    expect(Buffer.from(echoed as Uint8Array).equals(Buffer.from(big))).toBe(true);
  });

  it('handshakeTimeout covers it; a stream it gives too late is destroyed', async () => {
    const server = createHttpServer();
    acceptEcho(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    let late: Socket | null = null;
    const createConnection = (_: object, callback: (error: Error | null, stream?: Socket) => void) => {
      setTimeout(() => callback(null, (late = netConnect(port, '127.0.0.1'))), 400);
    };
    const error = await rejectionOf(new WebSocketStream('ws://slow/', { createConnection, handshakeTimeout: 100 }).opened);
    expect((error as Error).message).toMatch(/timed out after 100 ms/);
    expect(((error) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_HANDSHAKE_TIMEOUT');
    await delay(600);
    expect(late).not.toBeNull();
    expect(late!.destroyed).toBe(true);
  });

  it('an error from it rejects opened', async () => {
    const createConnection = (_: object, callback: (error: Error) => void) => callback(new Error('no route to the moon'));
    const error = await rejectionOf(new WebSocketStream('ws://moon/', { createConnection }).opened);
    expect((error as Error).message).toContain('no route to the moon');
  });
});

describe('credentials in the URL', () => {
  it('become Authorization: Basic; url keeps them as the URL standard serializes them', async () => {
    const server = createHttpServer();
    const seen = acceptEcho(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const url = `ws://al%20ice:p%40ss%3Aword@127.0.0.1:${port}/`;
    expect(new WebSocketStream(url, { signal: AbortSignal.abort() }).url).toBe(url);
    expect(await echoThrough(url, {})).toBe('hello');
    expect(seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('al ice:p@ss:word').toString('base64')}`);
    expect(await echoThrough(url, { headers: { authorization: 'Bearer mine' } })).toBe('hello');
    expect(seen[1]!.headers.authorization).toBe('Bearer mine');
    expect(await echoThrough(`ws://127.0.0.1:${port}/`, {})).toBe('hello');
    expect(seen[2]!.headers.authorization).toBeUndefined();
  });
});

describe('redirects', () => {
  /**
   * A plain http server whose upgrades under /r/<status>/<location> are answered with that
   * redirect, and whose other upgrades are echo WebSockets (ws). Records every upgrade request.
   */
  async function redirectingServer() {
    const server = createHttpServer();
    const wss = new WebSocketServer({ noServer: true });
    const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
    const sockets = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.on('upgrade', (request, socket, head) => {
      seen.push({ url: request.url ?? '', headers: request.headers });
      const match = /^\/r\/(\d+)\/(.*)$/.exec(request.url ?? '');
      if (match) {
        socket.end(`HTTP/1.1 ${match[1]} Moved\r\nLocation: ${decodeURIComponent(match[2]!)}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(request, socket, head, (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    });
    onCleanup(async () => {
      for (const client of wss.clients) client.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return { origin: `ws://127.0.0.1:${port}`, httpOrigin: `http://127.0.0.1:${port}`, seen };
  }
  const redirect = (status: number, location: string) => `/r/${status}/${encodeURIComponent(location)}`;

  it('by default a redirect fails the handshake, as the standard says', async () => {
    const a = await redirectingServer();
    const error = await rejectionOf(new WebSocketStream(`${a.origin}${redirect(301, '/final')}`).opened);
    expect((error as Error).message).toMatch(/301.*redirects are not followed/);
    expect(((error) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_UNEXPECTED_RESPONSE');
    expect(a.seen).toHaveLength(1);
  });

  for (const status of [301, 302, 303, 307, 308]) {
    it(`redirect: 'follow' follows a ${status} on the same origin, keeping credentials`, async () => {
      const a = await redirectingServer();
      const url = `${a.origin.replace('ws://', 'ws://u:pw@')}${redirect(status, '/final?x=1')}`;
      expect(await echoThrough(url, { redirect: 'follow', headers: { Cookie: 'c=1' } })).toBe('hello');
      expect(a.seen.map((s) => s.url)).toEqual([redirect(status, '/final?x=1'), '/final?x=1']);
      expect(a.seen[1]!.headers.authorization).toBe(`Basic ${Buffer.from('u:pw').toString('base64')}`);
      expect(a.seen[1]!.headers.cookie).toBe('c=1');
    });
  }

  it('to another origin (an http: Location, mapped to ws:), dropping Authorization, Cookie and URL credentials', async () => {
    const a = await redirectingServer();
    const b = await redirectingServer();
    const url = `${a.origin.replace('ws://', 'ws://u:pw@')}${redirect(302, `${b.httpOrigin}/there`)}`;
    expect(await echoThrough(url, { redirect: 'follow', headers: { Cookie: 'c=1', 'X-Other': 'kept' } })).toBe('hello');
    expect(a.seen[0]!.headers.authorization).toBeDefined();
    expect(b.seen.map((s) => s.url)).toEqual(['/there']);
    expect(b.seen[0]!.headers.authorization).toBeUndefined();
    expect(b.seen[0]!.headers.cookie).toBeUndefined();
    expect(b.seen[0]!.headers['x-other']).toBe('kept');
    const explicit = `${a.origin}${redirect(307, `${b.origin}/again`)}`;
    expect(await echoThrough(explicit, { redirect: 'follow', headers: { Authorization: 'Bearer t' } })).toBe('hello');
    expect(b.seen[1]!.headers.authorization).toBeUndefined();
  });

  it('a loop, too many redirects, or a non-WebSocket scheme fail with a clear error', async () => {
    const a = await redirectingServer();
    const loop = await rejectionOf(new WebSocketStream(`${a.origin}${redirect(301, '/r/301/x')}`, { redirect: 'follow' }).opened);
    // /r/301/x redirects to "x", relative: /r/301/x again
    expect((loop as Error).message).toMatch(/Redirect loop/);
    expect(((loop) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_REDIRECT');
    const chain = `${a.origin}${redirect(302, redirect(302, redirect(302, '/end')))}`;
    const tooMany = await rejectionOf(new WebSocketStream(chain, { redirect: 'follow', maxRedirects: 2 }).opened);
    expect((tooMany as Error).message).toBe('Too many redirects: more than 2 (maxRedirects)');
    expect(await echoThrough(chain, { redirect: 'follow', maxRedirects: 3 })).toBe('hello');
    const ftp = await rejectionOf(new WebSocketStream(`${a.origin}${redirect(301, 'ftp://files.example/')}`, { redirect: 'follow' }).opened);
    expect((ftp as Error).message).toBe('The server redirected to ftp://files.example/, which is not a WebSocket URL');
  });
});

describe('keepalive on the client', () => {
  it('finds a server process that stops answering (SIGSTOP) within interval + timeout + margin', async () => {
    // A ws server in a process of its own, which we pause: its kernel still holds the TCP
    // connection open, only the application is gone.
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      import { WebSocketServer } from 'ws';
      const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      server.on('listening', () => console.log(server.address().port));
      server.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    onCleanup(() => stopProcess(child));
    const [line] = await withTimeout(once(child.stdout!, 'data'), 10_000, 'the server process to listen') as [Buffer];
    const port = Number(line.toString().trim());

    const interval = 300;
    const timeout = 300;
    const wss = new WebSocketStream(`ws://127.0.0.1:${port}/`, { keepaliveInterval: interval, keepaliveTimeout: timeout });
    const { readable, writable } = await withTimeout(wss.opened, 10_000, 'opened');
    const reader = readable.getReader();
    const writer = writable.getWriter();
    await writer.write('alive?');
    expect((await withTimeout(reader.read(), 5_000, 'echo')).value).toBe('alive?');
    // A live server answers the pings: several intervals later the connection is still there.
    expect(await settledWithin(wss.closed, 4 * interval)).toBe(NOT_SETTLED);

    child.kill('SIGSTOP');
    const stopped = performance.now();
    const error = await rejectionOf(wss.closed, 10_000, 'closed to reject');
    const elapsed = performance.now() - stopped;
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).closeCode).toBe(1006);
    expect((error as Error).message).toMatch(/^Keepalive: the peer sent nothing for 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(timeout - 20);
    expect(elapsed).toBeLessThan(interval + timeout + 1_500); // margin for a loaded machine
    await expect(reader.read()).rejects.toBe(error);
  });

  it('our own backpressure never counts as the server\'s silence', async () => {
    const server = await startWsPeer();
    const total = 200;
    server.wss.on('connection', (ws) => {
      const chunk = Buffer.alloc(64 * 1024, 7);
      for (let i = 0; i < total; i++) ws.send(chunk);
    });
    const wss = new WebSocketStream(server.url, { keepaliveInterval: 100, keepaliveTimeout: 100, perMessageDeflate: false });
    const { readable } = await withTimeout(wss.opened, 10_000, 'opened');
    // Not reading for many times interval + timeout: the pongs wait behind data we hold back.
    await delay(1_500);
    expect(await settledWithin(wss.closed, 0)).toBe(NOT_SETTLED);
    const reader = readable.getReader();
    for (let i = 0; i < total; i++) {
      const { value } = await withTimeout(reader.read(), 5_000, `message ${i}`);
      expect((value as Uint8Array).byteLength).toBe(64 * 1024);
    }
    expect(await settledWithin(wss.closed, 300)).toBe(NOT_SETTLED);
    wss.close();
    await withTimeout(wss.closed, 5_000, 'closed');
  });

  it('keepaliveTimeout needs keepaliveInterval; both must be positive', () => {
    expect(() => new WebSocketStream('ws://a/', { keepaliveTimeout: 5 })).toThrow('keepaliveTimeout needs keepaliveInterval');
    expect(() => new WebSocketStream('ws://a/', { keepaliveInterval: 0 })).toThrow(TypeError);
  });
});
