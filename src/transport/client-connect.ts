import { openClientSocket, type ClientHandshakeOptions, type OpenedSocket } from './client-handshake.js';
import { HandshakeError } from '../protocol/handshake-error.js';
import { openTransport, type ClientRoute, type ClientTlsOptions, type TransportProgress } from './open-transport.js';
import { basicCredentials, ProxyError } from './proxy-url.js';

export interface ClientConnectOptions extends Omit<ClientHandshakeOptions, 'connect' | 'signal'> {
  route: Readonly<ClientRoute>;
  tls: ClientTlsOptions;
}

/** Headers that carry the application's credentials: never sent to another origin after a redirect. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie']);

/**
 * The client's way to an open WebSocket: the transport (openTransport), the handshake
 * (openClientSocket), credentials from the URL, and redirects when asked to follow them. Each
 * attempt has the full handshakeTimeout.
 */
export async function connectClient(url: URL, options: ClientConnectOptions, signal: AbortSignal): Promise<OpenedSocket> {
  let current = url;
  let headers = options.headers;
  const visited = new Set([url.href]);
  for (let redirects = 0; ; redirects++) {
    const target = current;
    const progress: TransportProgress = { waitingForProxy: null };
    try {
      return await openClientSocket(target, {
        ...options,
        headers: withUrlCredentials(target, headers),
        signal,
        connect: (connectSignal) => openTransport(target, options.route, options.tls, connectSignal, progress),
      });
    } catch (error) {
      // The handshake's own failure (its timeout) while a proxy had not answered yet: say so.
      if (error instanceof HandshakeError && !(error instanceof ProxyError) && progress.waitingForProxy !== null) {
        throw new HandshakeError(error.code, `${error.message} (no answer yet from proxy ${progress.waitingForProxy})`, null, { cause: error.cause });
      }
      if (!(error instanceof HandshakeError) || error.location === null || options.route.redirect !== 'follow') throw error;
      if (redirects >= options.route.maxRedirects) {
        throw new HandshakeError('ERR_WS_REDIRECT', `Too many redirects: more than ${options.route.maxRedirects} (maxRedirects)`);
      }
      const next = redirectTarget(target, error.location);
      if (visited.has(next.href)) throw new HandshakeError('ERR_WS_REDIRECT', `Redirect loop: ${target.href} sent us back to ${next.href}`);
      visited.add(next.href);
      // Credentials meant for one origin never go to another (RFC 9110 15.4, as fetch does).
      if (next.origin !== target.origin) {
        headers = withoutCredentials(headers);
        next.username = '';
        next.password = '';
      }
      current = next;
    }
  }
}

/** `ws://user:pass@host/` sends `Authorization: Basic`, unless the application set its own. */
function withUrlCredentials(url: URL, headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (url.username === '' && url.password === '') return headers;
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return headers;
  return { ...headers, Authorization: basicCredentials(decodeURIComponent(url.username), decodeURIComponent(url.password)) };
}

function withoutCredentials(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase())));
}

/** The Location of a redirect, as a WebSocket URL: http(s) maps to ws(s), anything else fails. */
function redirectTarget(from: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new HandshakeError('ERR_WS_REDIRECT', `The server redirected to an invalid URL: ${JSON.stringify(location)}`);
  }
  if (next.protocol === 'http:') next.protocol = 'ws:';
  else if (next.protocol === 'https:') next.protocol = 'wss:';
  if (next.protocol !== 'ws:' && next.protocol !== 'wss:') {
    throw new HandshakeError('ERR_WS_REDIRECT', `The server redirected to ${next.href}, which is not a WebSocket URL`);
  }
  next.hash = '';
  return next;
}
