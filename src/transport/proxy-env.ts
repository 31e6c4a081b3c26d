import { BlockList, isIP } from 'node:net';

/**
 * The proxy the environment asks for, for a connection to `url` (a ws: or wss: URL), or null:
 * `ws:` reads WS_PROXY then HTTP_PROXY, `wss:` reads WSS_PROXY then HTTPS_PROXY, both then
 * ALL_PROXY; each name in lower case first, as curl does (lower case wins when both are set).
 * NO_PROXY lists the hosts to reach directly. Empty values count as unset.
 */
export function proxyFromEnvironment(url: URL, env: NodeJS.ProcessEnv = process.env): { value: string; name: string } | null {
  const names = url.protocol === 'wss:' ? ['wss_proxy', 'https_proxy', 'all_proxy'] : ['ws_proxy', 'http_proxy', 'all_proxy'];
  for (const lower of names) {
    for (const name of [lower, lower.toUpperCase()]) {
      const value = readVariable(env, name);
      if (value === undefined || value.trim() === '') continue;
      const noProxy = readVariable(env, 'no_proxy') ?? readVariable(env, 'NO_PROXY') ?? '';
      return bypassesProxy(url, noProxy) ? null : { value, name };
    }
  }
  return null;
}

/**
 * One variable, or undefined when the runtime does not let us read it: Deno without
 * `--allow-env` throws on any read of process.env, and a program that was not given the
 * environment has not asked for a proxy from it (docs/runtimes.md says so).
 */
function readVariable(env: NodeJS.ProcessEnv, name: string): string | undefined {
  try {
    return env[name];
  } catch {
    return undefined;
  }
}

/**
 * Whether NO_PROXY names `url`'s host: entries separated by commas (or spaces), each `*` (every
 * host), a host name that also covers its subdomains (`example.com`, `.example.com` and
 * `*.example.com` alike), an IP address or CIDR range, any of them with `:port` to match that port
 * only. Names compare case-insensitively; no name is resolved.
 */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = unbracket(url.hostname).toLowerCase().replace(/\.$/, '');
  const port = url.port === '' ? (url.protocol === 'wss:' ? 443 : 80) : Number(url.port);
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const { name, entryPort } = splitPort(entry);
    if (entryPort !== null && entryPort !== port) continue;
    if (matchesHost(host, name)) return true;
  }
  return false;
}

function splitPort(entry: string): { name: string; entryPort: number | null } {
  // [v6]:port, v4:port, name:port; a bare IPv6 address has several colons and no port.
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1]!, entryPort: bracketed[2] === undefined ? null : Number(bracketed[2]) };
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  if (withPort) return { name: withPort[1]!, entryPort: Number(withPort[2]) };
  return { name: entry, entryPort: null };
}

function matchesHost(host: string, name: string): boolean {
  const hostFamily = isIP(host);
  const slash = name.indexOf('/');
  if (slash > 0) {
    // A CIDR range: only addresses match it.
    const network = name.slice(0, slash);
    const prefix = Number(name.slice(slash + 1));
    const family = isIP(network);
    if (hostFamily === 0 || family !== hostFamily || !Number.isInteger(prefix)) return false;
    const list = new BlockList();
    try {
      list.addSubnet(network, prefix, family === 6 ? 'ipv6' : 'ipv4');
    } catch {
      return false;
    }
    return list.check(host, hostFamily === 6 ? 'ipv6' : 'ipv4');
  }
  if (isIP(name) !== 0 || hostFamily !== 0) return name === host || (hostFamily !== 0 && sameAddress(name, host));
  const suffix = name.replace(/^\*?\./, '').replace(/\.$/, '');
  return host === suffix || host.endsWith(`.${suffix}`);
}

/** Two spellings of one IPv6 address (`::1` and `0:0::1`) are the same host. */
function sameAddress(a: string, b: string): boolean {
  if (isIP(a) !== 6 || isIP(b) !== 6) return false;
  const list = new BlockList();
  list.addAddress(a, 'ipv6');
  return list.check(b, 'ipv6');
}

function unbracket(hostname: string): string {
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}
