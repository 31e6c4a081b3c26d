import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { httpConnect } from './http-connect.js';
import { proxyFromEnvironment } from './proxy-env.js';
import { parseProxyUrl, type ProxyConfig } from './proxy-url.js';
import { SocketReads } from './socket-reads.js';
import { socks5Connect } from './socks5.js';

/** The TLS options a client may give; they apply to an https: proxy as well as to a wss: server. */
export type ClientTlsOptions = Pick<TlsConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;

/** What a `createConnection` function is given: where to connect, and the TLS options for wss:. */
export interface CreateConnectionOptions extends ClientTlsOptions {
  host: string;
  port: number;
  /** `true` for a wss: URL: the returned stream must then already speak TLS (e.g. `tls.connect(options)`). */
  secure: boolean;
}

/**
 * Node's `createConnection` convention (as in `http.request`): return the stream the handshake is
 * written to, or call `callback` with it later (or with an error).
 */
export type CreateConnection = (
  options: CreateConnectionOptions,
  callback: (error: Error | null, stream?: Duplex) => void,
) => Duplex | null | undefined | void;

/** `proxy` resolved: a proxy, none (`false`), or whatever the environment says. */
export type ProxySetting = ProxyConfig | false | 'environment';

/** How the client reaches servers: shared by every connection that uses the defaults. */
export interface ClientRoute {
  proxy: ProxySetting;
  socketPath: string | undefined;
  createConnection: CreateConnection | undefined;
  /** `'follow'` follows 301/302/303/307/308 answers to the handshake; `'error'` fails on them. */
  redirect: 'follow' | 'error';
  maxRedirects: number;
}

/** The defaults: TCP, a proxy only if the environment names one, no redirects. */
export const DEFAULT_ROUTE: Readonly<ClientRoute> = Object.freeze({
  proxy: 'environment',
  socketPath: undefined,
  createConnection: undefined,
  redirect: 'error',
  maxRedirects: 10,
});

/** Where opening the transport stands: the proxy being waited for, if any (for a timeout's message). */
export interface TransportProgress {
  waitingForProxy: string | null;
}

/** The stream the handshake goes over, and its reads when we place them (see SocketReads). */
export interface Transport {
  socket: Duplex;
  reads: SocketReads | null;
}

/**
 * Opens the byte stream to the WebSocket server of `url`: the application's own
 * (`createConnection`), a Unix socket (`socketPath`), a tunnel through a proxy, or TCP; TLS on top
 * for wss:. When the last hop is plain TCP we place its reads ourselves (SocketReads), so a
 * direct connection and a tunnel through an HTTP or SOCKS proxy keep the direct-read fast path.
 * Rejects with the signal's reason on abort, destroying what it opened.
 */
export async function openTransport(
  url: URL,
  route: ClientRoute,
  tlsOptions: ClientTlsOptions,
  signal: AbortSignal,
  progress: TransportProgress = { waitingForProxy: null },
): Promise<Transport> {
  const secure = url.protocol === 'wss:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  // `host` too: without it Node checks the certificate against the name of the socket beneath
  // (the proxy's), or "localhost".
  const tls = { host, servername: isIP(host) === 0 ? host : undefined, ...tlsOptions };

  if (route.createConnection !== undefined) {
    return { socket: await fromCreateConnection(route.createConnection, { ...tls, host, port, secure }), reads: null };
  }
  if (route.socketPath !== undefined) {
    if (secure) return { socket: tlsConnect({ path: route.socketPath, ...tls }), reads: null };
    const reads = new SocketReads();
    return { socket: reads.connect({ path: route.socketPath }), reads };
  }
  const proxy = route.proxy === 'environment' ? environmentProxy(url) : route.proxy;
  if (proxy === false || proxy === null) {
    if (secure) return { socket: tlsConnect({ ...tls, port }), reads: null };
    const reads = new SocketReads();
    return { socket: reads.connect({ host, port }), reads };
  }

  // Through a proxy. Over an http: or socks proxy, the TCP connection to the proxy carries the
  // WebSocket bytes as they are: for ws: it is the last hop, and its reads are ours to place.
  const reads = !secure && proxy.kind !== 'https' ? new SocketReads() : null;
  const target = { host: proxy.host, port: proxy.port };
  let socket: Socket = proxy.kind === 'https'
    ? tlsConnect({ ...target, ...tlsOptions, servername: isIP(proxy.host) === 0 ? proxy.host : undefined })
    : reads?.connect(target) ?? netConnect(target);
  progress.waitingForProxy = proxy.display;
  try {
    if (proxy.kind === 'http' || proxy.kind === 'https') await httpConnect(socket, proxy, host, port, signal);
    else await socks5Connect(socket, proxy, host, port, signal);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  progress.waitingForProxy = null;
  if (secure) socket = tlsConnect({ socket, ...tls });
  return { socket, reads };
}

function environmentProxy(url: URL): ProxyConfig | null {
  const found = proxyFromEnvironment(url);
  return found === null ? null : parseProxyUrl(found.value, `The ${found.name} environment variable`);
}

function fromCreateConnection(create: CreateConnection, options: CreateConnectionOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let called = false;
    const callback = (error: Error | null, stream?: Duplex): void => {
      if (called) return;
      called = true;
      if (error) reject(error);
      else if (stream === undefined) reject(new TypeError('createConnection gave no stream'));
      else resolve(stream);
    };
    try {
      const stream = create(options, callback);
      if (stream) callback(null, stream);
    } catch (error) {
      callback(error as Error);
    }
  });
}
