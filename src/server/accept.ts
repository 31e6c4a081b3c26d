import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { kAttach, kOpen, kRole, parseWebSocketUrl, WebSocketStream } from '../stream/websocket-stream.js';
import type { Connection } from '../transport/connection.js';
import { answerHandshake } from './handshake.js';
import { Keepalive } from '../transport/keepalive.js';
import { resolveAcceptOptions, type AcceptOptions, type ResolvedAcceptOptions } from './options.js';
import { refuseSocket } from './response.js';

/**
 * Accepts a WebSocket upgrade that a Node `http`/`https` server received ('upgrade' event) and
 * returns it as a WebSocketStream in the server role: same `opened`, `closed`, `close()`, same
 * streams, same backpressure (the socket is read only while the readable has demand).
 *
 * A request that is not a valid opening handshake is answered with 400 (426 for a wrong
 * `Sec-WebSocket-Version`) and a body saying why; `opened` then rejects with a WebSocketError.
 * Invalid arguments or options throw a TypeError, after answering the client with 500.
 */
export function acceptWebSocketStream(
  request: IncomingMessage,
  socket: Duplex,
  head?: Buffer | Uint8Array,
  options?: AcceptOptions,
): WebSocketStream {
  return accept(request, socket, head, options, null);
}

/** @internal `acceptWebSocketStream`, plus a look at the Connection for `serve()`'s shutdown. */
export function accept(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer | Uint8Array | undefined,
  options: AcceptOptions | undefined,
  onConnection: ((connection: Connection) => void) | null,
): WebSocketStream {
  if (!(socket instanceof Socket)) {
    throw new TypeError('acceptWebSocketStream: socket must be the net.Socket of the "upgrade" event');
  }
  let resolved: ResolvedAcceptOptions;
  let wss: WebSocketStream;
  try {
    if (request === null || typeof request !== 'object' || typeof request.headers !== 'object' || request.headers === null) {
      throw new TypeError('acceptWebSocketStream: request must be the IncomingMessage of the "upgrade" event');
    }
    if (head !== undefined && !(head instanceof Uint8Array)) {
      throw new TypeError('acceptWebSocketStream: head must be the Buffer of the "upgrade" event');
    }
    resolved = resolveAcceptOptions(options);
    const firstBytes = head === undefined ? Buffer.alloc(0) : Buffer.from(head.buffer, head.byteOffset, head.byteLength);
    const settings = resolved;
    let keepalive: Keepalive | null = null;
    wss = new WebSocketStream(requestUrl(request, socket), {
      ...(settings.signal === undefined ? {} : { signal: settings.signal }),
      maxPayload: settings.maxPayload,
      closeTimeout: settings.closeTimeout,
      // Agreed in answerHandshake. Memory: see docs/memory.md#nothing-of-the-handshake-kept-once-open
      perMessageDeflate: false,
      ...(settings.binaryType === undefined ? {} : { binaryType: settings.binaryType }),
      ...(settings.readableStrategy === undefined ? {} : { readableStrategy: settings.readableStrategy }),
      ...(settings.writableStrategy === undefined ? {} : { writableStrategy: settings.writableStrategy }),
      [kRole]: 'server',
      [kOpen]: (signal: AbortSignal) => answerHandshake(request, socket, firstBytes, settings, signal),
      [kAttach]: (connection: Connection) => {
        if (settings.keepalive !== null) {
          keepalive = new Keepalive(connection, settings.keepalive, (error) => connection.destroy(error));
          keepalive.start(socket);
        }
        onConnection?.(connection);
      },
    } as ConstructorParameters<typeof WebSocketStream>[1]);
    if (settings.keepalive !== null) {
      const stop = (): void => (keepalive as Keepalive | null)?.stop();
      wss.closed.then(stop, stop);
    }
  } catch (error) {
    // A programming error on our side of the handshake: the client still gets an answer.
    refuseSocket(socket, 500, 'Internal Server Error', [], 1000);
    throw error;
  }
  if (resolved.signal?.aborted) {
    // The stream never calls the handshake then; the client must still hear something.
    refuseSocket(socket, 503, 'The server abandoned the opening handshake', [], resolved.closeTimeout);
  }
  return wss;
}

/** Characters a Host header may hold (RFC 3986 reg-name, IP literal, port); no "/", "?", "#", "@". */
const HOST_PATTERN = /^[A-Za-z0-9\-._~%!$&'()*+,;=:[\]]+$/;

/**
 * The `url` of an accepted stream: ws: or wss: (TLS socket), the client's Host header and the
 * request target. A Host that is not a plain authority falls back to our own address, so that a
 * hostile header can never make the URL point elsewhere or throw.
 */
function requestUrl(request: IncomingMessage, socket: Socket): string {
  const scheme = (socket as Socket & { encrypted?: boolean }).encrypted === true ? 'wss' : 'ws';
  let target = String(request.url ?? '/');
  if (!target.startsWith('/')) {
    // absolute-form ("GET ws://host/path") keeps its path; anything else ("*") becomes "/".
    try {
      const absolute = new URL(target);
      target = `${absolute.pathname}${absolute.search}`;
    } catch {
      target = '/';
    }
  }
  target = target.split('#')[0] ?? '/';
  // Our own address only when the Host is unusable: asking for it caches an object on the socket.
  return urlWith(scheme, request.headers.host, target) ?? urlWith(scheme, localAuthority(socket), target) ?? `${scheme}://localhost/`;
}

function urlWith(scheme: string, authority: unknown, target: string): string | null {
  if (typeof authority !== 'string' || !HOST_PATTERN.test(authority)) return null;
  for (const path of [target, '/']) {
    try {
      return parseWebSocketUrl(`${scheme}://${authority}${path}`).href;
    } catch {
      // try the next, plainer candidate
    }
  }
  return null;
}

function localAuthority(socket: Socket): string {
  const address = socket.localAddress;
  if (address === undefined) return 'localhost';
  return `${address.includes(':') ? `[${address}]` : address}:${socket.localPort}`;
}
