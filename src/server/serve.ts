import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { CloseCode } from '../protocol/close-codes.js';
import { DEFAULT_CLOSE_TIMEOUT } from '../stream/options.js';
import type { WebSocketStream } from '../stream/websocket-stream.js';
import type { Connection } from '../transport/connection.js';
import { accept } from './accept.js';
import { resolveAcceptOptions, type AcceptOptions } from './options.js';
import { enforceRequestDeadline } from './request-deadline.js';
import { refuseSocket } from './response.js';
import { ignore } from '../protocol/ignore.js';

/** Options of `serve()`: where to listen, plus every option of `acceptWebSocketStream`. */
export interface ServeOptions extends AcceptOptions {
  /** Port to listen on; 0 (the default) lets the system choose. */
  port?: number;
  /** Address to listen on; Node's default (every interface) when omitted. */
  host?: string;
  /** Only upgrades to this path are accepted; others get 404. Default: any path. */
  path?: string;
  /** Called when a handler throws or rejects; the connection is then closed with 1011. Default: console.error. */
  onError?: (error: unknown, request: IncomingMessage) => void;
}

/** A running `serve()` server. */
export interface WebSocketStreamServer {
  /** `ws://host:port/` of the listening socket. */
  readonly url: string;
  readonly port: number;
  /** The underlying `http.Server`, for anything this helper does not cover. */
  readonly server: Server;
  /** Open connections (after their handshake). */
  readonly connections: ReadonlySet<WebSocketStream>;
  /**
   * Stops listening, sends every open connection a Close frame with 1001 ("going away") and
   * resolves once every socket is gone (each bounded by `closeTimeout`).
   */
  close(): Promise<void>;
}

export type ConnectionHandler = (wss: WebSocketStream, request: IncomingMessage) => unknown;

/**
 * A thin listener for scripts and demos: an HTTP server whose upgrades become WebSocketStreams.
 * `handler` runs once per connection after its handshake succeeded (failed handshakes were already
 * answered with their HTTP status). Plain HTTP requests get 426 Upgrade Required.
 */
export async function serve(options: ServeOptions, handler: ConnectionHandler): Promise<WebSocketStreamServer> {
  if (options === null || typeof options !== 'object') throw new TypeError('serve: options must be an object');
  if (typeof handler !== 'function') throw new TypeError('serve: handler must be a function');
  const { port = 0, host, path, onError = defaultOnError, ...acceptOptions } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError('serve: port must be an integer in 0-65535');
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) throw new TypeError('serve: path must start with "/"');
  // Checked once here, so that a bad option fails serve() instead of every upgrade.
  const { handshakeTimeout } = resolveAcceptOptions(acceptOptions);

  const open = new Set<WebSocketStream>();
  const connections = new WeakMap<WebSocketStream, Connection>();
  let closing: Promise<void> | null = null;
  const server = createServer((_request, response) => {
    response.writeHead(426, { Upgrade: 'websocket', Connection: 'Upgrade', 'Content-Type': 'text/plain; charset=utf-8' });
    response.end('This server only speaks WebSocket\n');
  });
  // handshakeTimeout covers the request head too, which node:http reads before 'upgrade'.
  enforceRequestDeadline(server, handshakeTimeout);

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const lingerMs = acceptOptions.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    if (closing !== null) {
      refuseSocket(socket, 503, 'The server is shutting down', [], lingerMs);
      return;
    }
    if (path !== undefined && pathOf(request.url) !== path) {
      refuseSocket(socket, 404, `No WebSocket endpoint at ${JSON.stringify(request.url)}`, [], lingerMs);
      return;
    }
    const wss = accept(request, socket, head, acceptOptions, (connection) => connections.set(wss, connection));
    wss.opened.then(() => {
      const connection = connections.get(wss)!;
      open.add(wss);
      const forget = (): void => {
        open.delete(wss);
      };
      wss.closed.then(forget, forget);
      if (closing !== null) {
        goAway(connection);
        return;
      }
      Promise.resolve()
        .then(() => handler(wss, request))
        .catch((error: unknown) => {
          onError(error, request);
          // The handler's failure is ours, not the client's: 1011 tells it so.
          connection.close(CloseCode.InternalError, 'Internal error');
          connection.discardMessages();
        });
    }, () => {
      // Refused or failed handshake: the client already got its status; nothing to hand over.
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host === undefined ? {} : { host }) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.address.includes(':') ? `[${address.address}]` : address.address;

  return {
    url: `ws://${shownHost}:${address.port}/`,
    port: address.port,
    server,
    connections: open,
    close() {
      closing ??= (async () => {
        // server.close() calls back once the listener is closed and every socket it accepted,
        // upgraded ones included, is gone.
        const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const wss of open) goAway(connections.get(wss)!);
        server.closeIdleConnections();
        await listenerClosed;
        // Every stream has settled by now; this lets their bookkeeping run before we resolve.
        await Promise.all([...open].map((wss) => wss.closed.then(ignore, ignore)));
      })();
      return closing;
    },
  };
}

function pathOf(target: string | undefined): string {
  try {
    return new URL(target ?? '/', 'ws://localhost').pathname;
  } catch {
    return '';
  }
}

function goAway(connection: Connection): void {
  connection.close(CloseCode.GoingAway, 'Server is shutting down');
  // Nobody may read any more; keep the socket flowing so that the client's Close is seen.
  connection.discardMessages();
}

function defaultOnError(error: unknown, request: IncomingMessage): void {
  console.error(`websocketstream serve(): the handler for ${request.url ?? '/'} failed:`, error);
}
