import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { exchange, expectNothingAfter } from './proxy-exchange.js';
import { ProxyError, type ProxyConfig } from './proxy-url.js';

const VERSION = 0x05;
const METHOD_NONE = 0x00;
const METHOD_PASSWORD = 0x02;
const METHOD_REFUSED = 0xff;
const COMMAND_CONNECT = 0x01;
const ADDRESS_IPV4 = 0x01;
const ADDRESS_NAME = 0x03;
const ADDRESS_IPV6 = 0x04;

/** RFC 1928 section 6: what each reply code means. */
const REPLIES = [
  'succeeded',
  'general SOCKS server failure',
  'connection not allowed by ruleset',
  'network unreachable',
  'host unreachable',
  'connection refused',
  'TTL expired',
  'command not supported',
  'address type not supported',
];

/**
 * Opens a tunnel to `host:port` through a SOCKS5 proxy (RFC 1928) over `socket`, an open
 * connection to it: greeting, username/password authentication when the proxy URL has
 * credentials (RFC 1929), then CONNECT. `socks5h` hands the name to the proxy to resolve;
 * `socks5` resolves it here first. A refusal is a ProxyError naming the proxy's reply code.
 */
export async function socks5Connect(socket: Duplex, proxy: ProxyConfig, host: string, port: number, signal: AbortSignal): Promise<void> {
  const credentials = proxy.username === null ? null : {
    username: Buffer.from(proxy.username, 'utf8'),
    password: Buffer.from(proxy.password, 'utf8'),
  };
  if (credentials !== null && (credentials.username.length < 1 || credentials.username.length > 255 || credentials.password.length > 255)) {
    throw new ProxyError('ERR_WS_PROXY_AUTH', `Proxy ${proxy.display}: SOCKS5 user names and passwords must be 1 to 255 bytes`);
  }
  // Resolve before talking to the proxy, so that the proxy step does not wait on DNS.
  const address = await targetAddress(proxy, host, signal);

  const methods = credentials === null ? [METHOD_NONE] : [METHOD_NONE, METHOD_PASSWORD];
  const method = await exchange(socket, proxy, Buffer.from([VERSION, methods.length, ...methods]), (received) => {
    if (received.length < 2) return null;
    if (received[0] !== VERSION) throw new ProxyError('ERR_WS_PROXY_PROTOCOL', `Proxy ${proxy.display} does not speak SOCKS5 (version byte ${received[0]})`);
    expectNothingAfter(received, 2, proxy);
    return received[1]!;
  }, signal);
  if (method === METHOD_REFUSED || !methods.includes(method)) {
    const why = credentials === null ? 'it wants credentials: put them in the proxy URL' : 'none of ours is acceptable';
    throw new ProxyError('ERR_WS_PROXY_AUTH', `Proxy ${proxy.display} refused every SOCKS5 authentication method (${why})`);
  }
  if (method === METHOD_PASSWORD) {
    const { username, password } = credentials!;
    const request = Buffer.concat([Buffer.from([0x01, username.length]), username, Buffer.from([password.length]), password]);
    await exchange(socket, proxy, request, (received) => {
      if (received.length < 2) return null;
      expectNothingAfter(received, 2, proxy);
      if (received[1] !== 0x00) throw new ProxyError('ERR_WS_PROXY_AUTH', `Proxy ${proxy.display} refused the SOCKS5 user name and password`);
      return true;
    }, signal);
  }

  const portBytes = Buffer.from([port >> 8, port & 0xff]);
  const request = Buffer.concat([Buffer.from([VERSION, COMMAND_CONNECT, 0x00]), address, portBytes]);
  await exchange(socket, proxy, request, (received) => {
    if (received.length < 5) return null;
    if (received[0] !== VERSION) throw new ProxyError('ERR_WS_PROXY_PROTOCOL', `Proxy ${proxy.display} does not speak SOCKS5 (version byte ${received[0]})`);
    const reply = received[1]!;
    if (reply !== 0x00) {
      const meaning = REPLIES[reply] ?? 'unknown reply code';
      throw new ProxyError('ERR_WS_PROXY_REFUSED', `Proxy ${proxy.display} could not open a tunnel to ${host}:${port}: SOCKS5 reply ${reply} (${meaning})`);
    }
    const type = received[3];
    const addressLength = type === ADDRESS_IPV4 ? 4 : type === ADDRESS_IPV6 ? 16 : type === ADDRESS_NAME ? 1 + received[4]! : -1;
    if (addressLength < 0) throw new ProxyError('ERR_WS_PROXY_PROTOCOL', `Proxy ${proxy.display} sent a SOCKS5 reply with address type ${type}`);
    const end = 4 + addressLength + 2;
    if (received.length < end) return null;
    expectNothingAfter(received, end, proxy);
    return true;
  }, signal);
}

/** DST.ADDR with its type byte: the address itself, or (socks5h) the name. */
async function targetAddress(proxy: ProxyConfig, host: string, signal: AbortSignal): Promise<Buffer> {
  let ip = host;
  if (isIP(host) === 0) {
    if (proxy.kind === 'socks5h') {
      const name = Buffer.from(host, 'utf8');
      if (name.length > 255) throw new ProxyError('ERR_WS_PROXY_REFUSED', `Host name too long for SOCKS5: ${host}`);
      return Buffer.concat([Buffer.from([ADDRESS_NAME, name.length]), name]);
    }
    ip = await resolve(proxy, host, signal);
  }
  if (isIP(ip) === 4) return Buffer.from([ADDRESS_IPV4, ...ip.split('.').map(Number)]);
  return Buffer.concat([Buffer.from([ADDRESS_IPV6]), ipv6Bytes(ip)]);
}

function resolve(proxy: ProxyConfig, host: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    lookup(host).then(
      ({ address }) => resolvePromise(address),
      (error: Error) => reject(new ProxyError('ERR_WS_PROXY_UNREACHABLE', `Could not resolve ${host} for SOCKS5 proxy ${proxy.display}: ${error.message}`, null, { cause: error })),
    ).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The 16 bytes of an IPv6 address in any of its text forms (`::1`, `::ffff:1.2.3.4`). */
function ipv6Bytes(ip: string): Buffer {
  let text = ip.split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -v4[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = text.includes('::') ? text.split('::') as [string, string] : [text, null];
  const head = left === '' ? [] : left.split(':');
  const tail = right === null || right === '' ? [] : right.split(':');
  const groups = right === null ? head : [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => {
    bytes.writeUInt16BE(parseInt(group, 16), i * 2);
  });
  return bytes;
}
