import { isToken, PROTOCOL_OWNED_HEADERS, validateHeaders } from '../protocol/handshake.js';
import type { ClientDeflateOffer, DeflateTuning } from '../protocol/permessage-deflate.js';
import { keepaliveSettings, type KeepaliveOptions } from '../transport/keepalive.js';
import { DEFAULT_ROUTE, type ClientRoute, type CreateConnection, type ProxySetting } from '../transport/open-transport.js';
import { parseProxyUrl } from '../transport/proxy-url.js';
import { resolveClientDeflate, type PerMessageDeflateOptions } from './deflate-options.js';
import { toUSVString } from './websocket-error.js';

/** Options of `new WebSocketStream(url, options)`: the two standard ones and Node extensions. */
export interface WebSocketStreamOptions {
  /** Subprotocols to offer, in order of preference (standard). */
  protocols?: string[];
  /** Aborts the opening handshake (standard). */
  signal?: AbortSignal;

  // Node extensions, not in the standard.

  /** Extra request headers. Headers the protocol owns (Upgrade, Sec-WebSocket-*) are a TypeError. */
  headers?: Record<string, string> | Iterable<[string, string]>;
  /** TLS options for `wss:` URLs, passed to `tls.connect`. */
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer | Array<string | Buffer>;
  rejectUnauthorized?: boolean;
  servername?: string;
  /** Milliseconds allowed for the opening handshake. Default 30000. */
  handshakeTimeout?: number;
  /** Milliseconds allowed for the closing handshake once a Close frame is sent. Default 30000. */
  closeTimeout?: number;
  /** Largest incoming message in bytes; a larger one closes the connection with 1009. Default 64 MiB. */
  maxPayload?: number;
  /** Chunk type of binary messages: `"uint8array"` (default, as the draft says) or `"arraybuffer"` (Chrome). */
  binaryType?: 'uint8array' | 'arraybuffer';
  /** Queuing strategy of the readable; default: one message (the streams default). */
  readableStrategy?: QueuingStrategy<string | Uint8Array | ArrayBuffer>;
  /** Queuing strategy of the writable; default: one chunk (the streams default). */
  writableStrategy?: QueuingStrategy<unknown>;
  /**
   * permessage-deflate (RFC 7692). Default `true`: offer it as Chrome does
   * (`permessage-deflate; client_max_window_bits`). `false` offers nothing; an object tunes it.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /**
   * The proxy to connect through: `http://`, `https://`, `socks5://` or `socks5h://` URL, with
   * credentials in it if the proxy wants them. Default: from the environment (WS_PROXY,
   * HTTP_PROXY, WSS_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY). `false`: never a proxy.
   */
  proxy?: string | URL | false;
  /** Connect over this Unix domain socket instead of TCP; the Host header still comes from the URL. */
  socketPath?: string;
  /**
   * Opens the stream the handshake is written to, instead of TCP (Node's `createConnection`
   * convention): return it or pass it to the callback. For wss: URLs it must speak TLS already.
   */
  createConnection?: CreateConnection;
  /** `'follow'` follows HTTP redirects of the handshake; `'error'` (default, as the standard) fails. */
  redirect?: 'follow' | 'error';
  /** Most redirects followed with `redirect: 'follow'`. Default 10. */
  maxRedirects?: number;
  /** Milliseconds between pings; a server silent for `keepaliveTimeout` ms of reading time after one is dropped. Default: no pings. */
  keepaliveInterval?: number;
  /** Milliseconds of reading time the server has to answer a ping. Default: `keepaliveInterval`. */
  keepaliveTimeout?: number;
}

export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;
export const DEFAULT_HANDSHAKE_TIMEOUT = 30_000;
export const DEFAULT_CLOSE_TIMEOUT = 30_000;

export interface ResolvedOptions {
  protocols: readonly string[];
  signal: AbortSignal | undefined;
  headers: Readonly<Record<string, string>>;
  tls: { ca?: WebSocketStreamOptions['ca']; cert?: WebSocketStreamOptions['cert']; key?: WebSocketStreamOptions['key']; rejectUnauthorized?: boolean; servername?: string };
  handshakeTimeout: number;
  closeTimeout: number;
  maxPayload: number;
  binaryType: 'uint8array' | 'arraybuffer';
  readableStrategy: QueuingStrategy<string | Uint8Array | ArrayBuffer> | undefined;
  writableStrategy: QueuingStrategy<unknown> | undefined;
  deflate: { offer: ClientDeflateOffer; tuning: DeflateTuning } | null;
  /** Proxy, Unix socket, createConnection, redirects: DEFAULT_ROUTE (shared) when none is given. */
  route: Readonly<ClientRoute>;
  keepalive: KeepaliveOptions | null;
}

/** Checks the options the way WebIDL and the standard do; every mistake is a TypeError or SyntaxError. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
    throw new TypeError('WebSocketStream options must be an object');
  }
  const o = (options ?? {}) as WebSocketStreamOptions;
  return {
    protocols: resolveProtocols(o.protocols),
    signal: resolveSignal(o.signal),
    headers: resolveHeaders(o.headers),
    tls: resolveTls(o),
    handshakeTimeout: optionalPositiveNumber(o.handshakeTimeout, 'handshakeTimeout') ?? DEFAULT_HANDSHAKE_TIMEOUT,
    closeTimeout: optionalPositiveNumber(o.closeTimeout, 'closeTimeout') ?? DEFAULT_CLOSE_TIMEOUT,
    maxPayload: optionalPositiveNumber(o.maxPayload, 'maxPayload') ?? DEFAULT_MAX_PAYLOAD,
    binaryType: resolveBinaryType(o.binaryType),
    readableStrategy: resolveStrategy(o.readableStrategy, 'readableStrategy'),
    writableStrategy: resolveStrategy(o.writableStrategy, 'writableStrategy'),
    deflate: resolveClientDeflate(o.perMessageDeflate),
    route: resolveRoute(o),
    keepalive: keepaliveSettings(
      optionalPositiveNumber(o.keepaliveInterval, 'keepaliveInterval'),
      optionalPositiveNumber(o.keepaliveTimeout, 'keepaliveTimeout'),
    ),
  };
}

/** How the client reaches the server: proxy, Unix socket, the application's own stream, redirects. */
function resolveRoute(o: WebSocketStreamOptions): Readonly<ClientRoute> {
  if (o.proxy === undefined && o.socketPath === undefined && o.createConnection === undefined
    && o.redirect === undefined && o.maxRedirects === undefined) return DEFAULT_ROUTE;
  let proxy: ProxySetting = 'environment';
  if (o.proxy === false) proxy = false;
  else if (typeof o.proxy === 'string' || o.proxy instanceof URL) proxy = parseProxyUrl(o.proxy, 'The proxy option');
  else if (o.proxy !== undefined) throw new TypeError('proxy must be a URL string, a URL or false');
  if (o.socketPath !== undefined && (typeof o.socketPath !== 'string' || o.socketPath === '')) {
    throw new TypeError('socketPath must be a non-empty string');
  }
  if (o.createConnection !== undefined && typeof o.createConnection !== 'function') {
    throw new TypeError('createConnection must be a function');
  }
  if (o.redirect !== undefined && o.redirect !== 'follow' && o.redirect !== 'error') {
    throw new TypeError('redirect must be "follow" or "error"');
  }
  const maxRedirects = o.maxRedirects ?? DEFAULT_ROUTE.maxRedirects;
  if (typeof maxRedirects !== 'number' || !Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw new TypeError('maxRedirects must be a non-negative integer');
  }
  return { proxy, socketPath: o.socketPath, createConnection: o.createConnection, redirect: o.redirect ?? DEFAULT_ROUTE.redirect, maxRedirects };
}

/** What most streams resolve to, shared. Memory: see docs/memory.md#shared-empty-options */
const NO_PROTOCOLS: readonly string[] = Object.freeze([]);
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NO_TLS: ResolvedOptions['tls'] = Object.freeze({});

/** `protocols` is a sequence<USVString> of distinct tokens (case-insensitively distinct). */
function resolveProtocols(value: unknown): readonly string[] {
  if (value === undefined) return NO_PROTOCOLS;
  if (value === null || typeof value !== 'object' || typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError('protocols must be a sequence of strings');
  }
  const protocols = Array.from(value as Iterable<unknown>, toUSVString);
  const seen = new Set<string>();
  for (const protocol of protocols) {
    if (!isToken(protocol)) {
      throw new DOMException(`Invalid subprotocol ${JSON.stringify(protocol)}: it must be an HTTP token`, 'SyntaxError');
    }
    const folded = protocol.toLowerCase();
    if (seen.has(folded)) throw new DOMException(`Duplicate subprotocol ${JSON.stringify(protocol)}`, 'SyntaxError');
    seen.add(folded);
  }
  return protocols;
}

function resolveSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  return value;
}

/** The client's extra request headers, checked like the server's; repeated names are joined. */
function resolveHeaders(value: unknown): Readonly<Record<string, string>> {
  if (value === undefined) return NO_HEADERS;
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of validateHeaders(value, PROTOCOL_OWNED_HEADERS, 'headers')) {
    headers[name] = Object.hasOwn(headers, name) ? `${headers[name]}, ${headerValue}` : headerValue;
  }
  return headers;
}

function resolveTls(o: WebSocketStreamOptions): ResolvedOptions['tls'] {
  const tls: ResolvedOptions['tls'] = {};
  if (o.ca !== undefined) tls.ca = o.ca;
  if (o.cert !== undefined) tls.cert = o.cert;
  if (o.key !== undefined) tls.key = o.key;
  if (o.rejectUnauthorized !== undefined) {
    if (typeof o.rejectUnauthorized !== 'boolean') throw new TypeError('rejectUnauthorized must be a boolean');
    tls.rejectUnauthorized = o.rejectUnauthorized;
  }
  if (o.servername !== undefined) {
    if (typeof o.servername !== 'string') throw new TypeError('servername must be a string');
    tls.servername = o.servername;
  }
  return Object.keys(tls).length === 0 ? NO_TLS : tls;
}

/** A timeout or size option: undefined when not given, else a positive finite number (or a TypeError). */
export function optionalPositiveNumber(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new TypeError(`${name} must be a positive finite number`);
  }
  return value;
}

function resolveBinaryType(value: unknown): 'uint8array' | 'arraybuffer' {
  if (value === undefined) return 'uint8array';
  if (value !== 'uint8array' && value !== 'arraybuffer') {
    throw new TypeError('binaryType must be "uint8array" or "arraybuffer"');
  }
  return value;
}

function resolveStrategy<T>(value: unknown, name: string): QueuingStrategy<T> | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') throw new TypeError(`${name} must be a QueuingStrategy object`);
  return value as QueuingStrategy<T>;
}
