// A peer for our client: the `ws` library's server on 127.0.0.1, port 0, closed after each test
// (through cleanup()), with every wait bounded by a timeout.
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import { onCleanup } from './cleanup.js';
import { delay, withTimeout } from './timing.js';

export interface WsPeer {
  wss: WebSocketServer;
  /** `ws://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** TCP connections accepted by the HTTP server, opened handshakes or not. */
  tcpConnections: number;
  /** The server side of the next WebSocket connection. */
  nextConnection(timeoutMs?: number): Promise<WebSocket>;
}

/** A `ws` WebSocketServer on 127.0.0.1, port 0, on its own HTTP server (so TCP connects are counted). */
export async function startWsPeer(
  options: Omit<ServerOptions, 'server' | 'port' | 'host' | 'noServer'> = {},
  httpServer: HttpServer = createHttpServer(),
): Promise<WsPeer> {
  const wss = new WebSocketServer({ ...options, server: httpServer });
  const sockets = new Set<Socket>();
  const state: WsPeer = {
    wss,
    url: '',
    port: 0,
    tcpConnections: 0,
    nextConnection: (timeoutMs = 5_000) =>
      withTimeout(once(wss, 'connection').then(([ws]) => ws as WebSocket), timeoutMs, 'server connection'),
  };
  httpServer.on('connection', (socket: Socket) => {
    state.tcpConnections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // For an https server too, 'connection' is the raw TCP socket, before any TLS handshake.
  onCleanup(async () => {
    for (const client of wss.clients) client.terminate();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  });
  httpServer.listen(0, '127.0.0.1');
  await withTimeout(once(httpServer, 'listening'), 5_000, 'listen');
  state.port = (httpServer.address() as AddressInfo).port;
  state.url = `ws://127.0.0.1:${state.port}`;
  return state;
}

/**
 * Waits until the bytes a `ws` sender got rid of (sent minus its bufferedAmount) stop growing for
 * `quietMs`: the sender has stalled. Returns that plateau.
 */
export async function waitForStall(ws: WebSocket, sent: () => number, quietMs = 500, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const flushed = sent() - ws.bufferedAmount;
    if (flushed !== last) {
      last = flushed;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return flushed;
    }
    if (Date.now() > deadline) throw new Error(`The sender never stalled (flushed ${flushed} bytes)`);
    await delay(25);
  }
}

/** The code and reason of the server side's 'close' event. */
export function serverClose(ws: WebSocket, ms = 5_000): Promise<{ code: number; reason: string }> {
  return withTimeout(
    once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: (reason as Buffer).toString() })),
    ms,
    'the server to see the close',
  );
}

