// Interop with the other Node implementations users meet: `faye-websocket` and `websocket`
// (WebSocket-Node), each as the server of our client and as a client of our server, over real
// loopback sockets: text and binary echo, close codes and reasons both ways, and what happens at
// each peer's own size limit (WebSocket-Node refuses frames above 64 KiB on its server side and
// drops the connection right after its Close: we report its code and reason, or a reset while we
// were sending, never a bare `write ECONNRESET`).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { serve, WebSocketError, WebSocketStream, type WebSocketStreamServer } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { rejectionOf, withTimeout } from './helpers/timing.js';

afterEach(cleanup);

const require = createRequire(import.meta.url);

// The little of each package's API these tests use (neither ships types).
interface CloseInfo {
  code: number;
  reason: string;
}

/** One connection of either peer, as these tests drive it. */
interface PeerConnection {
  sendText(text: string): void;
  sendBinary(bytes: Buffer): void;
  close(code: number, reason: string): void;
  /** The next message received (a string, or a Buffer for binary). */
  nextMessage(): Promise<string | Buffer>;
  /** From now on, send every message received back. */
  echo(): void;
  /** The code and reason of the peer's 'close' event. */
  closed: Promise<CloseInfo>;
}

interface WsnMessage {
  type: 'utf8' | 'binary';
  utf8Data?: string;
  binaryData?: Buffer;
}
interface WsnConnection {
  sendUTF(text: string): void;
  sendBytes(bytes: Buffer): void;
  close(code: number, reason: string): void;
  on(event: 'message', listener: (message: WsnMessage) => void): void;
  on(event: 'close', listener: (code: number, description: string) => void): void;
}
interface WsnRequest {
  resource: string;
  origin: string;
  accept(protocol: string | null, origin: string): WsnConnection;
}
const WebSocketNode = require('websocket') as {
  server: new (config: { httpServer: Server; autoAcceptConnections: boolean }) => {
    on(event: 'request', listener: (request: WsnRequest) => void): void;
    shutDown(): void;
  };
  client: new (config?: object) => {
    on(event: 'connect', listener: (connection: WsnConnection) => void): void;
    on(event: 'connectFailed', listener: (error: Error) => void): void;
    connect(url: string): void;
  };
};

interface FayeSocket {
  send(data: string | Buffer): boolean;
  close(code?: number, reason?: string): void;
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (event: { data: string | Buffer }) => void): void;
  on(event: 'close', listener: (event: CloseInfo) => void): void;
}
const Faye = require('faye-websocket') as {
  new (request: IncomingMessage, socket: Socket, body: Buffer, protocols?: string[], options?: object): FayeSocket;
  Client: new (url: string, protocols?: string[], options?: object) => FayeSocket;
};

/** Wraps either peer's connection; listeners are attached at once so that no event is missed. */
function peerConnection(hooks: {
  sendText(text: string): void;
  sendBinary(bytes: Buffer): void;
  close(code: number, reason: string): void;
  onMessage(listener: (data: string | Buffer) => void): void;
  onClose(listener: (info: CloseInfo) => void): void;
}): PeerConnection {
  const queued: Array<string | Buffer> = [];
  const waiting: Array<(data: string | Buffer) => void> = [];
  let echoing = false;
  const send = (data: string | Buffer): void => (typeof data === 'string' ? hooks.sendText(data) : hooks.sendBinary(data));
  hooks.onMessage((data) => {
    if (echoing) send(data);
    else if (waiting.length > 0) waiting.shift()!(data);
    else queued.push(data);
  });
  return {
    sendText: hooks.sendText,
    sendBinary: hooks.sendBinary,
    close: hooks.close,
    closed: new Promise<CloseInfo>((resolve) => hooks.onClose(resolve)),
    nextMessage: () => queued.length > 0
      ? Promise.resolve(queued.shift()!)
      : withTimeout(new Promise((resolve) => waiting.push(resolve)), 5_000, 'a message at the peer'),
    echo() {
      echoing = true;
      for (const data of queued.splice(0)) send(data);
    },
  };
}

function fromWsn(connection: WsnConnection): PeerConnection {
  return peerConnection({
    sendText: (text) => connection.sendUTF(text),
    sendBinary: (bytes) => connection.sendBytes(bytes),
    close: (code, reason) => connection.close(code, reason),
    onMessage: (listener) => connection.on('message', (m) => listener(m.type === 'utf8' ? m.utf8Data! : m.binaryData!)),
    onClose: (listener) => connection.on('close', (code, reason) => listener({ code, reason })),
  });
}

function fromFaye(socket: FayeSocket): PeerConnection {
  return peerConnection({
    sendText: (text) => socket.send(text),
    sendBinary: (bytes) => socket.send(bytes),
    close: (code, reason) => socket.close(code, reason),
    onMessage: (listener) => socket.on('message', (event) => listener(event.data)),
    onClose: (listener) => socket.on('close', (event) => listener({ code: event.code, reason: event.reason })),
  });
}

/** A peer's server on 127.0.0.1:0 (see serveEcho), with every connection it accepted. */
interface PeerServer {
  url: string;
  connections: PeerConnection[];
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  onCleanup(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What the peers' servers do: on `/close`, close with 4001 "srv" at once; otherwise echo. */
function serveEcho(connection: PeerConnection, path: string): void {
  if (path === '/close') connection.close(4001, 'srv');
  else connection.echo();
}

async function wsnServer(): Promise<PeerServer> {
  const http = createServer();
  const url = await listen(http);
  const server = new WebSocketNode.server({ httpServer: http, autoAcceptConnections: false });
  onCleanup(() => server.shutDown());
  const connections: PeerConnection[] = [];
  server.on('request', (request) => {
    const connection = fromWsn(request.accept(null, request.origin));
    connections.push(connection);
    serveEcho(connection, request.resource);
  });
  return { url, connections };
}

async function fayeServer(options: object = {}): Promise<PeerServer> {
  const http = createServer();
  const url = await listen(http);
  const connections: PeerConnection[] = [];
  http.on('upgrade', (request: IncomingMessage, socket: Socket, body: Buffer) => {
    const raw = new Faye(request, socket, body, [], options);
    const connection = fromFaye(raw);
    connections.push(connection);
    raw.on('open', () => serveEcho(connection, request.url ?? '/'));
  });
  return { url, connections };
}

function wsnClient(url: string, config: object = {}): Promise<PeerConnection> {
  return withTimeout(new Promise((resolve, reject) => {
    const client = new WebSocketNode.client(config);
    client.on('connect', (connection) => resolve(fromWsn(connection)));
    client.on('connectFailed', reject);
    client.connect(url);
  }), 5_000, 'the WebSocket-Node client to connect');
}

function fayeClient(url: string, options: object = {}): Promise<PeerConnection> {
  const socket = new Faye.Client(url, [], options);
  const connection = fromFaye(socket);
  return withTimeout(new Promise((resolve) => socket.on('open', () => resolve(connection))), 5_000, 'the faye client to open');
}

function connect(url: string): WebSocketStream {
  const wss = new WebSocketStream(url);
  onCleanup(() => wss.close());
  return wss;
}

/**
 * Our server: echoes on /echo, closes with 4001 "srv" on /close, sends one 4 MiB message on /big;
 * records every stream.
 */
async function ourServer(options: { maxPayload?: number } = {}): Promise<{ server: WebSocketStreamServer; accepted: WebSocketStream[] }> {
  const accepted: WebSocketStream[] = [];
  const server = await serve({ host: '127.0.0.1', ...options }, async (wss, request) => {
    accepted.push(wss);
    const { readable, writable } = await wss.opened;
    if (request.url === '/close') wss.close({ closeCode: 4001, reason: 'srv' });
    else if (request.url === '/big') await writable.getWriter().write(new Uint8Array(4 * 1024 * 1024)).catch(() => {});
    else await readable.pipeTo(writable).catch(() => {});
  });
  onCleanup(() => server.close());
  return { server, accepted };
}

/**
 * What a peer that drops the connection right after its Close (at its size limit) must give: its
 * code and reason when its Close reached us first, otherwise an error that says the peer reset the
 * connection while we were sending. Never a bare `write ECONNRESET`.
 */
function expectPeerLimit(error: unknown, code: number, reason: RegExp): void {
  expect(error).toBeInstanceOf(WebSocketError);
  const { closeCode, message } = error as WebSocketError;
  if (closeCode === code) {
    expect((error as WebSocketError).reason).toMatch(reason);
    expect(message).toMatch(new RegExp(`peer closed the connection \\(code ${code}`));
  } else {
    expect(closeCode).toBe(1006);
    expect(message).toMatch(/peer reset the connection while we were sending/);
  }
  expect(message).not.toMatch(/^write ECONNRESET$/);
}

const peers = [
  {
    name: 'faye-websocket',
    server: () => fayeServer({ maxLength: 1024 * 1024 }),
    client: fayeClient,
    limitedClient: (url: string) => fayeClient(url, { maxLength: 1024 * 1024 }),
    // faye answers our Close with our own code and reason.
    answersOurClose: { closeCode: 4000, reason: 'bye' },
    limit: { code: 1009, reason: /too large/ },
  },
  {
    name: 'websocket (WebSocket-Node)',
    server: wsnServer,
    client: wsnClient,
    // Its client refuses frames above 1 MiB by default.
    limitedClient: (url: string) => wsnClient(url),
    // WebSocket-Node answers any Close with 1000 and no reason.
    answersOurClose: { closeCode: 1000, reason: '' },
    // Its server refuses frames above 64 KiB (maxReceivedFrameSize), then destroys the socket.
    limit: { code: 1009, reason: /exceeds maximum accepted frame size/ },
  },
];

describe.each(peers)('$name as the server of our client', (peer) => {
  it('echoes text and binary', async () => {
    const { url } = await peer.server();
    const wss = connect(`${url}/echo`);
    const { readable, writable } = await withTimeout(wss.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    const reader = readable.getReader();
    const binary = new Uint8Array(60_000).map((_, i) => i & 0xff);
    await writer.write('h\u00e9llo \u{1f600}');
    await writer.write(binary);
    expect((await withTimeout(reader.read(), 5_000, 'text')).value).toBe('h\u00e9llo \u{1f600}');
    const echoed = (await withTimeout(reader.read(), 5_000, 'binary')).value as Uint8Array;
    expect(Buffer.compare(echoed, binary)).toBe(0);
  });

  it('we close with a code and reason: the peer sees both, closed has its answer', async () => {
    const server = await peer.server();
    const wss = connect(`${server.url}/echo`);
    await withTimeout(wss.opened, 5_000, 'opened');
    wss.close({ closeCode: 4000, reason: 'bye' });
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual(peer.answersOurClose);
    expect(await withTimeout(server.connections[0]!.closed, 5_000, 'the peer close')).toEqual({ code: 4000, reason: 'bye' });
  });

  it('the peer closes with a code and reason: closed has both, and our Close echoes both', async () => {
    const server = await peer.server();
    const wss = connect(`${server.url}/close`);
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 4001, reason: 'srv' });
    expect(await withTimeout(server.connections[0]!.closed, 5_000, 'the peer close')).toEqual({ code: 4001, reason: 'srv' });
  });

  it('a message above the peer limit: its Close code and reason, or a reset while we were sending', async () => {
    const { url } = await peer.server();
    const wss = connect(`${url}/echo`);
    const { writable } = await withTimeout(wss.opened, 5_000, 'opened');
    writable.getWriter().write(new Uint8Array(2 * 1024 * 1024)).catch(() => {});
    expectPeerLimit(await rejectionOf(wss.closed, 10_000), peer.limit.code, peer.limit.reason);
  });
});

describe.each(peers)('$name as a client of our server', (peer) => {
  it('echoes text and binary', async () => {
    const { server } = await ourServer();
    const client = await peer.client(`${server.url}echo`);
    client.sendText('h\u00e9llo \u{1f600}');
    const binary = Buffer.alloc(100_000);
    for (let i = 0; i < binary.length; i++) binary[i] = i & 0xff;
    client.sendBinary(binary);
    expect(await client.nextMessage()).toBe('h\u00e9llo \u{1f600}');
    const echoed = await client.nextMessage();
    expect(Buffer.isBuffer(echoed) && echoed.equals(binary)).toBe(true);
    client.close(1000, '');
  });

  it('the client closes with a code and reason: our server sees both and echoes both', async () => {
    const { server, accepted } = await ourServer();
    const client = await peer.client(`${server.url}echo`);
    client.close(4000, 'bye');
    expect(await withTimeout(client.closed, 5_000, 'the client close')).toEqual({ code: 4000, reason: 'bye' });
    expect(await withTimeout(accepted[0]!.closed, 5_000, 'closed')).toEqual({ closeCode: 4000, reason: 'bye' });
  });

  it('our server closes with a code and reason: the client sees both', async () => {
    const { server, accepted } = await ourServer();
    const client = await peer.client(`${server.url}close`);
    expect(await withTimeout(client.closed, 5_000, 'the client close')).toEqual({ code: 4001, reason: 'srv' });
    const closed = await withTimeout(accepted[0]!.closed, 5_000, 'closed');
    expect(closed.closeCode).toBe(peer.answersOurClose.closeCode === 1000 ? 1000 : 4001);
  });

  it('a message above our maxPayload: the client gets 1009', async () => {
    const { server } = await ourServer({ maxPayload: 1024 });
    const client = await peer.client(`${server.url}echo`);
    client.sendBinary(Buffer.alloc(2048));
    expect((await withTimeout(client.closed, 5_000, 'the client close')).code).toBe(1009);
  });

  it('a message above the client limit: our server reports its Close code and reason, or a reset while sending', async () => {
    const { server, accepted } = await ourServer();
    const client = await peer.limitedClient(`${server.url}big`);
    expect((await withTimeout(client.closed, 10_000, 'the client close')).code).toBe(1009);
    expectPeerLimit(await rejectionOf(accepted[0]!.closed, 10_000), peer.limit.code, peer.limit.reason);
  });
});
