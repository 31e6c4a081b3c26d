import type { Duplex } from 'node:stream';
import { exchange, expectNothingAfter } from './proxy-exchange.js';
import { basicCredentials, ProxyError, type ProxyConfig } from './proxy-url.js';

/**
 * Asks an HTTP proxy for a tunnel to `host:port` with CONNECT (RFC 9110 9.3.6) over `socket`, an
 * open connection to the proxy (TCP, or TLS for an https: proxy). Resolves once the proxy answered
 * 2xx; the socket then carries the tunnel. Any other answer is a ProxyError with its status line.
 * The proxy sees only the target's name and port: the WebSocket handshake goes through the tunnel.
 */
export function httpConnect(socket: Duplex, proxy: ProxyConfig, host: string, port: number, signal: AbortSignal): Promise<void> {
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  let request = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (proxy.username !== null) request += `Proxy-Authorization: ${basicCredentials(proxy.username, proxy.password)}\r\n`;
  request += '\r\n';
  return exchange(socket, proxy, request, (received) => {
    const end = received.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const head = received.subarray(0, end).toString('latin1');
    const lineEnd = head.indexOf('\r\n');
    const statusLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
    const match = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (match === null) {
      throw new ProxyError('ERR_WS_PROXY_PROTOCOL', `Proxy ${proxy.display} gave an answer that is not HTTP: ${JSON.stringify(statusLine.slice(0, 80))}`);
    }
    const status = Number(match[1]);
    if (status < 200 || status > 299) {
      const reason = (match[2] ?? '').trim();
      // 407 is the standard answer; some proxies (tinyproxy 1.11 for a wrong password) say 401.
      const hint = status !== 407 && status !== 401 ? ''
        : proxy.username === null ? ' (the proxy wants credentials: put them in the proxy URL)' : ' (the proxy refused the credentials)';
      throw new ProxyError(status === 407 || status === 401 ? 'ERR_WS_PROXY_AUTH' : 'ERR_WS_PROXY_REFUSED', `Proxy ${proxy.display} refused the tunnel to ${authority}: ${status}${reason === '' ? '' : ` ${reason}`}${hint}`);
    }
    // A 2xx answer to CONNECT has no body (RFC 9110 9.3.6): what follows belongs to the tunnel,
    // and the server behind it speaks only after our request.
    expectNothingAfter(received, end + 4, proxy);
    return true;
  }, signal).then(() => undefined);
}
