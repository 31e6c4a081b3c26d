import { HandshakeError } from '../protocol/handshake-error.js';

/** A proxy to connect through, from the `proxy` option or the environment. */
export interface ProxyConfig {
  /** `http` and `https` tunnel with CONNECT; `socks5` resolves names here, `socks5h` at the proxy. */
  kind: 'http' | 'https' | 'socks5' | 'socks5h';
  host: string;
  port: number;
  /** Credentials from the URL (percent-decoded), or null. */
  username: string | null;
  password: string;
  /** The proxy's URL without credentials, for error messages. */
  display: string;
}

const DEFAULT_PORTS = { http: 80, https: 443, socks5: 1080, socks5h: 1080 } as const;

/**
 * Reads a proxy URL. A value without a scheme is an HTTP proxy, as curl takes it
 * (`proxy.example:3128`). Throws a TypeError naming `where` for anything else.
 */
export function parseProxyUrl(value: string | URL, where: string): ProxyConfig {
  const text = String(value).trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new TypeError(`${where} is not a valid proxy URL: ${JSON.stringify(text)}`);
  }
  const kind = url.protocol.slice(0, -1);
  if (!Object.hasOwn(DEFAULT_PORTS, kind)) {
    throw new TypeError(`${where} has an unsupported proxy scheme ${url.protocol} (use http:, https:, socks5: or socks5h:)`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') throw new TypeError(`${where} has no host: ${JSON.stringify(text)}`);
  const typed = kind as ProxyConfig['kind'];
  return {
    kind: typed,
    host,
    port: url.port === '' ? DEFAULT_PORTS[typed] : Number(url.port),
    username: url.username === '' && url.password === '' ? null : decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    display: `${url.protocol}//${url.host}`,
  };
}

/** A proxy refused or failed the tunnel; the message names the proxy and what it answered. */
export class ProxyError extends HandshakeError {
  override name = 'ProxyError';
}

/** `user:pass` as the token of a Basic credential (RFC 7617), UTF-8 encoded. */
export function basicCredentials(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}
