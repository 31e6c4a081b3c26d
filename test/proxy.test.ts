// Proxies, for real: Debian's tinyproxy (HTTP CONNECT, with and without Basic auth), microsocks
// (SOCKS5, with and without username/password), and a CONNECT proxy of our own for https: proxies
// and for proxies that misbehave. Every proxy and server is started here and stopped after each test.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { WebSocket as ClassicWebSocket, WebSocketError, WebSocketStream } from '../src/index.js';
import type { WebSocketStreamOptions } from '../src/index.js';
import { Connection } from '../src/transport/connection.js';
import { haveProgram, startMicrosocks, startOwnProxy, startTinyproxy, TLS_CERT, TLS_KEY } from './helpers/proxies.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, rejectionOf, withTimeout } from './helpers/timing.js';
import { startWsPeer, type WsPeer } from './helpers/ws-peer.js';
import { closedPort } from './helpers/raw-server.js';

afterEach(cleanup);

const TINYPROXY = '/usr/bin/tinyproxy';
const MICROSOCKS = '/usr/bin/microsocks';

/** An echo server (ws), plain or TLS; `paths` records the request paths it saw. */
async function echoServer(secure = false): Promise<WsPeer & { paths: string[]; headers: Array<Record<string, unknown>> }> {
  const server = secure
    ? await startWsPeer({}, createHttpsServer({ key: TLS_KEY, cert: TLS_CERT }))
    : await startWsPeer();
  const paths: string[] = [];
  const headers: Array<Record<string, unknown>> = [];
  server.wss.on('connection', (ws, request) => {
    paths.push(request.url ?? '');
    headers.push(request.headers);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  if (secure) server.url = server.url.replace('ws:', 'wss:');
  return Object.assign(server, { paths, headers });
}

/** An echo server (ws) on ::1, the IPv6 loopback. */
async function ipv6EchoServer(): Promise<{ url: string; port: number }> {
  const wss = new WebSocketServer({ host: '::1', port: 0 });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  onCleanup(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  await withTimeout(once(wss, 'listening'), 5_000, 'listen on ::1');
  const { port } = wss.address() as AddressInfo;
  return { url: `ws://[::1]:${port}/`, port };
}

/** Opens, sends one message, returns the echo, closes cleanly. */
async function echoThrough(url: string, options: WebSocketStreamOptions, message: string | Uint8Array = 'hello'): Promise<string | Uint8Array | ArrayBuffer> {
  const wss = new WebSocketStream(url, options);
  const { readable, writable } = await withTimeout(wss.opened, 10_000, 'opened');
  const writer = writable.getWriter();
  await writer.write(message);
  const { value } = await withTimeout(readable.getReader().read(), 10_000, 'the echo');
  wss.close();
  await withTimeout(wss.closed, 10_000, 'closed');
  return value!;
}

async function openingError(url: string, options: WebSocketStreamOptions, ms = 10_000): Promise<WebSocketError> {
  const wss = new WebSocketStream(url, options);
  const error = await rejectionOf(wss.opened, ms, 'opened to reject');
  expect(error).toBeInstanceOf(WebSocketError);
  await rejectionOf(wss.closed, ms, 'closed to reject');
  return error as WebSocketError;
}

/**
 * Backpressure through a tunnel: the client stops reading, and the server (ws, not paced) stalls
 * with most of 32 MiB still in its own buffer: the proxy relays only what the client's socket
 * takes. Then every message arrives, in order.
 */
async function backpressureThrough(proxyUrl: string): Promise<void> {
  const COUNT = 512;
  const SIZE = 64 * 1024;
  const server = await startWsPeer({ perMessageDeflate: false });
  const serverWs = server.nextConnection();
  const wss = new WebSocketStream(server.url, { proxy: proxyUrl, perMessageDeflate: false });
  onCleanup(() => wss.close());
  const { readable } = await withTimeout(wss.opened, 10_000, 'opened');
  const ws = await serverWs;
  for (let seq = 0; seq < COUNT; seq++) {
    const message = Buffer.alloc(SIZE);
    message.writeUInt32BE(seq, 0);
    ws.send(message);
    if (seq % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
  }
  // Wait for the sender to stall: its buffer stops shrinking.
  let last = -1;
  for (let quiet = 0; quiet < 10;) {
    await delay(50);
    quiet = ws.bufferedAmount === last ? quiet + 1 : 0;
    last = ws.bufferedAmount;
  }
  expect(ws.bufferedAmount).toBeGreaterThan(16 * 1024 * 1024);
  const reader = readable.getReader();
  for (let seq = 0; seq < COUNT; seq++) {
    const { value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
    expect(Buffer.from(value as Uint8Array).readUInt32BE(0)).toBe(seq);
  }
  expect(ws.bufferedAmount).toBe(0);
}

describe.runIf(haveProgram(TINYPROXY))('HTTP CONNECT through tinyproxy', () => {
  it('tunnels ws: through the proxy: the proxy sees CONNECT to host:port, never the path', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy();
    expect(await echoThrough(`${server.url}/secret/path?q=1`, { proxy: proxy.url, perMessageDeflate: false })).toBe('hello');
    expect(server.paths).toEqual(['/secret/path?q=1']);
    expect(proxy.output()).toContain(`CONNECT 127.0.0.1:${server.port}`);
    expect(proxy.output()).not.toContain('secret');
  });

  it('tunnels wss: (TLS end to end inside the tunnel)', async () => {
    const server = await echoServer(true);
    const proxy = await startTinyproxy();
    expect(await echoThrough(server.url, { proxy: proxy.url, ca: TLS_CERT })).toBe('hello');
    expect(proxy.output()).toContain(`CONNECT 127.0.0.1:${server.port}`);
  });

  it('a 16 MiB message arrives intact through the tunnel, read straight into its buffer', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy();
    const big = new Uint8Array(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    const directReads = vi.spyOn(Connection.prototype, 'onTargetRead');
    onCleanup(() => directReads.mockRestore());
    const echoed = await echoThrough(server.url, { proxy: proxy.url, maxPayload: 32 * 1024 * 1024, perMessageDeflate: false }, big);
    // The tunnel is the TCP connection to the proxy: the payload was read into its own buffer.
    expect(directReads).toHaveBeenCalled();
    expect(echoed).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(Buffer.from(echoed as Uint8Array), Buffer.from(big))).toBe(0);
  });

  it('backpressure holds through the tunnel: the server stalls while the client does not read', async () => {
    await backpressureThrough((await startTinyproxy()).url);
  });

  it('sends the credentials of the proxy URL as Proxy-Authorization: Basic', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy({ user: 'alice', password: 'S3cretPw' });
    const url = new URL(proxy.url);
    url.username = 'alice';
    url.password = 'S3cretPw';
    expect(await echoThrough(server.url, { proxy: url })).toBe('hello');
  });

  // tinyproxy 1.11 answers a wrong password with 401 (a missing one with 407); we pass on what it says.
  it('a wrong password: opened rejects with the refusal, naming the proxy but not the password', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy({ user: 'alice', password: 'right' });
    const error = await openingError(server.url, { proxy: `http://alice:wrong@127.0.0.1:${proxy.port}` });
    expect(error.message).toMatch(new RegExp(`^Proxy http://127.0.0.1:${proxy.port} refused the tunnel to 127.0.0.1:${server.port}: 40[17] `));
    expect(error.message).toContain('refused the credentials');
    expect(error.message).not.toContain('wrong');
    expect(server.paths).toEqual([]);
  });

  it('no credentials for a proxy that wants them: 407 with a hint', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy({ user: 'alice', password: 'right' });
    const error = await openingError(server.url, { proxy: proxy.url });
    expect(error.message).toMatch(/407.*wants credentials/);
    expect(((error) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_PROXY_AUTH');
  });

  it('an IPv6 target is asked for as [::1]:port', async () => {
    const server = await ipv6EchoServer();
    const proxy = await startTinyproxy();
    expect(await echoThrough(server.url, { proxy: proxy.url })).toBe('hello');
    expect(proxy.output()).toContain(`CONNECT [::1]:${server.port}`);
  });

  it('the classic WebSocket takes the proxy in its third argument', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy();
    const ws = new ClassicWebSocket(server.url, [], { proxy: proxy.url });
    const message = await withTimeout(new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send('classic');
      ws.onmessage = (event) => resolve(event.data as string);
      ws.onerror = () => reject(new Error('error event'));
    }), 10_000, 'the echo');
    ws.close();
    expect(message).toBe('classic');
    expect(proxy.output()).toContain(`CONNECT 127.0.0.1:${server.port}`);
  });
});

describe.runIf(haveProgram(MICROSOCKS))('SOCKS5 through microsocks', () => {
  it('socks5: resolves the name here and connects through the proxy', async () => {
    const server = await echoServer();
    const proxy = await startMicrosocks();
    expect(await echoThrough(`ws://localhost:${server.port}/`, { proxy: proxy.url })).toBe('hello');
  });

  it('socks5h: lets the proxy resolve the name; wss: works inside', async () => {
    const server = await echoServer(true);
    const proxy = await startMicrosocks();
    const url = `wss://localhost:${server.port}/`;
    expect(await echoThrough(url, { proxy: proxy.url.replace('socks5:', 'socks5h:'), ca: TLS_CERT })).toBe('hello');
  });

  it('an IPv6 target goes to the proxy as a 16-byte address', async () => {
    const server = await ipv6EchoServer();
    const proxy = await startMicrosocks();
    expect(await echoThrough(server.url, { proxy: proxy.url })).toBe('hello');
    expect(await echoThrough(server.url, { proxy: proxy.url.replace('socks5:', 'socks5h:') })).toBe('hello');
  });

  it('backpressure holds through the tunnel: the server stalls while the client does not read', async () => {
    await backpressureThrough((await startMicrosocks()).url);
  });

  it('username and password (RFC 1929) from the proxy URL', async () => {
    const server = await echoServer();
    const proxy = await startMicrosocks({ user: 'bob', password: 'hunter2' });
    expect(await echoThrough(server.url, { proxy: `socks5://bob:hunter2@127.0.0.1:${proxy.port}` })).toBe('hello');
  });

  it('a wrong password, or none, is a clear error naming the proxy', async () => {
    const server = await echoServer();
    const proxy = await startMicrosocks({ user: 'bob', password: 'hunter2' });
    const wrong = await openingError(server.url, { proxy: `socks5://bob:nope@127.0.0.1:${proxy.port}` });
    expect(wrong.message).toContain(`socks5://127.0.0.1:${proxy.port}`);
    expect(wrong.message).not.toContain('nope');
    const none = await openingError(server.url, { proxy: proxy.url });
    expect(none.message).toMatch(/refused every SOCKS5 authentication method.*credentials/);
    expect(((none) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_PROXY_AUTH');
    expect(server.paths).toEqual([]);
  });

  it('a target the proxy cannot reach: the SOCKS5 reply code is in the error', async () => {
    const proxy = await startMicrosocks();
    const port = await closedPort();
    const error = await openingError(`ws://127.0.0.1:${port}/`, { proxy: proxy.url });
    expect(error.message).toMatch(new RegExp(`Proxy socks5://127.0.0.1:${proxy.port} could not open a tunnel to 127.0.0.1:${port}: SOCKS5 reply \\d+ \\(`));
  });
});

/** A fresh self-signed certificate whose only name is IP 127.0.0.1 (made with openssl). */
async function ipOnlyCertificate(): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-ip-cert-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  await promisify(execFile)('/usr/bin/openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=ip-only', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { timeout: 20_000 });
  return { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
}

describe('https: proxies and proxies that misbehave (a CONNECT proxy of our own)', () => {
  /** A SOCKS5 server of our own that gives the answers in `answers`, one per message it receives. */
  async function scriptedSocks(answers: Buffer[]): Promise<string> {
    const sockets = new Set<Socket>();
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      let step = 0;
      socket.on('data', () => {
        const answer = answers[step++];
        if (answer !== undefined) socket.write(answer);
      });
    });
    onCleanup(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `socks5://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('SOCKS5: bytes after the reply, a proxy that is not SOCKS5, an unknown reply code', async () => {
    const success = Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 80]);
    const extra = await scriptedSocks([Buffer.from([5, 0]), Buffer.concat([success, Buffer.from('HTTP/1.1 101')])]);
    expect((await openingError('ws://127.0.0.1:1/', { proxy: extra })).message).toBe(`Proxy ${extra} sent 12 unexpected bytes after its answer`);
    const http = await scriptedSocks([Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')]);
    expect((await openingError('ws://127.0.0.1:1/', { proxy: http })).message).toBe(`Proxy ${http} does not speak SOCKS5 (version byte 72)`);
    const odd = await scriptedSocks([Buffer.from([5, 0]), Buffer.from([5, 42, 0, 1, 0, 0, 0, 0, 0, 0])]);
    expect((await openingError('ws://127.0.0.1:1/', { proxy: odd })).message).toBe(`Proxy ${odd} could not open a tunnel to 127.0.0.1:1: SOCKS5 reply 42 (unknown reply code)`);
  });

  it('an https: proxy is reached over TLS; ws: and wss: tunnel through it', async () => {
    const proxy = await startOwnProxy({ tls: true });
    const plain = await echoServer();
    const secure = await echoServer(true);
    const withCredentials = proxy.url.replace('https://', 'https://al%20ice:p%40ss:w@');
    expect(await echoThrough(`${plain.url}/a`, { proxy: withCredentials, ca: TLS_CERT })).toBe('hello');
    expect(await echoThrough(`${secure.url}/b`, { proxy: proxy.url, ca: TLS_CERT })).toBe('hello');
    expect(proxy.requests[0]).toContain(`Proxy-Authorization: Basic ${Buffer.from('al ice:p@ss:w').toString('base64')}`);
    expect(proxy.requests[1]).not.toContain('Proxy-Authorization');
    expect(proxy.requests.map((head) => head.split('\r\n')[0])).toEqual([
      `CONNECT 127.0.0.1:${plain.port} HTTP/1.1`,
      `CONNECT 127.0.0.1:${secure.port} HTTP/1.1`,
    ]);
  });

  it.runIf(haveProgram('/usr/bin/openssl'))('wss: to an IP address through a proxy checks the certificate against that address', async () => {
    // A certificate that names 127.0.0.1 only: Node would check "localhost" (or the proxy's name)
    // if the client did not pass the URL's host down to TLS.
    const { key, cert } = await ipOnlyCertificate();
    const server = await startWsPeer({}, createHttpsServer({ key, cert }));
    server.wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data.toString())));
    const proxy = await startOwnProxy();
    expect(await echoThrough(server.url.replace('ws:', 'wss:'), { proxy: proxy.url, ca: cert })).toBe('hello');
  });

  it('an https: proxy whose certificate is not trusted fails with the TLS error', async () => {
    const proxy = await startOwnProxy({ tls: true });
    const server = await echoServer();
    const error = await openingError(server.url, { proxy: proxy.url });
    expect(error.message).toContain(`Could not reach proxy ${proxy.url}`);
    expect(error.message).toMatch(/certificate/i);
  });

  for (const [status, text] of [[403, 'Forbidden'], [502, 'Bad Gateway']] as const) {
    it(`a ${status} answer rejects opened with the status, the proxy's name and the target`, async () => {
      const proxy = await startOwnProxy({ answer: () => `HTTP/1.1 ${status} ${text}\r\nContent-Length: 4\r\n\r\nnope` });
      const error = await openingError('ws://example.invalid:8080/x', { proxy: proxy.url });
      expect(error.message).toBe(`Proxy ${proxy.url} refused the tunnel to example.invalid:8080: ${status} ${text}`);
      expect(error.closeCode).not.toBe(1000);
    });
  }

  it('bytes after the 200 never reach the WebSocket: the connection fails instead', async () => {
    const server = await echoServer();
    const proxy = await startOwnProxy({ answer: () => 'HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n' });
    const error = await openingError(server.url, { proxy: proxy.url });
    expect(error.message).toMatch(/unexpected bytes after its answer/);
    expect(((error) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_PROXY_PROTOCOL');
  });

  it('an endless answer is cut at 16 KiB, not buffered', async () => {
    const proxy = await startOwnProxy({ answer: () => `HTTP/1.1 200 OK\r\nX-Fill: ${'x'.repeat(20_000)}` });
    const error = await openingError('ws://127.0.0.1:1/', { proxy: proxy.url });
    expect(error.message).toBe(`Proxy ${proxy.url} sent an answer larger than 16384 bytes`);
  });

  it('an answer that is not HTTP is an error', async () => {
    const proxy = await startOwnProxy({ answer: () => 'SSH-2.0-OpenSSH\r\n\r\n' });
    const error = await openingError('ws://127.0.0.1:1/', { proxy: proxy.url });
    expect(error.message).toContain('not HTTP');
  });

  it('an unreachable proxy: opened rejects naming it', async () => {
    const port = await closedPort();
    const error = await openingError('ws://127.0.0.1:1/', { proxy: `http://127.0.0.1:${port}` });
    expect(error.message).toMatch(new RegExp(`Could not reach proxy http://127.0.0.1:${port}: .*ECONNREFUSED`));
    expect(((error) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_PROXY_UNREACHABLE');
  });

  it('handshakeTimeout covers a proxy that never answers, and the proxy connection is closed', async () => {
    const proxy = await startOwnProxy({ answer: () => 'silence' });
    const started = performance.now();
    const error = await openingError('ws://127.0.0.1:1/', { proxy: proxy.url, handshakeTimeout: 300 }, 5_000);
    expect(error.message).toBe(`Opening handshake timed out after 300 ms (no answer yet from proxy ${proxy.url})`);
    expect(((error) as { cause?: { code?: string } }).cause?.code).toBe('ERR_WS_HANDSHAKE_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(proxy.requests).toHaveLength(1);
  });

  it('aborting the signal during the proxy step rejects with its reason', async () => {
    const proxy = await startOwnProxy({ answer: () => 'silence' });
    const controller = new AbortController();
    const wss = new WebSocketStream('ws://127.0.0.1:1/', { proxy: proxy.url, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('changed my mind')), 100);
    const error = await rejectionOf(wss.opened, 5_000);
    expect((error as Error).message).toBe('changed my mind');
  });

  it('proxy option checks: unsupported schemes and wrong types are TypeErrors', () => {
    expect(() => new WebSocketStream('ws://a/', { proxy: 'ftp://p:21' })).toThrow(/unsupported proxy scheme ftp:/);
    expect(() => new WebSocketStream('ws://a/', { proxy: 42 as never })).toThrow(TypeError);
    expect(() => new WebSocketStream('ws://a/', { proxy: 'http://' })).toThrow(TypeError);
  });
});
