// The proxy environment variables: which one applies to ws: and wss:, lower case first, and
// NO_PROXY; first as a table on the pure functions, then for real through tinyproxy.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketError, WebSocketStream } from '../src/index.js';
import { bypassesProxy, proxyFromEnvironment } from '../src/transport/proxy-env.js';
import { haveProgram, startMicrosocks, startTinyproxy } from './helpers/proxies.js';
import { cleanup } from './helpers/cleanup.js';
import { rejectionOf, withTimeout } from './helpers/timing.js';
import { startWsPeer } from './helpers/ws-peer.js';
import { closedPort } from './helpers/raw-server.js';

const PROXY_VARIABLES = ['ws_proxy', 'wss_proxy', 'http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'].flatMap((name) => [name, name.toUpperCase()]);
const saved = new Map(PROXY_VARIABLES.map((name) => [name, process.env[name]]));

afterEach(async () => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await cleanup();
});

describe('which variable applies', () => {
  const pick = (url: string, env: Record<string, string>) => proxyFromEnvironment(new URL(url), env)?.name ?? null;

  it('ws: reads WS_PROXY, then HTTP_PROXY, then ALL_PROXY; wss: reads WSS_PROXY, then HTTPS_PROXY, then ALL_PROXY', () => {
    const all = { WS_PROXY: 'a', HTTP_PROXY: 'b', WSS_PROXY: 'c', HTTPS_PROXY: 'd', ALL_PROXY: 'e' };
    expect(pick('ws://h/', all)).toBe('WS_PROXY');
    expect(pick('ws://h/', { HTTP_PROXY: 'b', ALL_PROXY: 'e', HTTPS_PROXY: 'd' })).toBe('HTTP_PROXY');
    expect(pick('ws://h/', { ALL_PROXY: 'e', HTTPS_PROXY: 'd', WSS_PROXY: 'c' })).toBe('ALL_PROXY');
    expect(pick('wss://h/', all)).toBe('WSS_PROXY');
    expect(pick('wss://h/', { HTTPS_PROXY: 'd', HTTP_PROXY: 'b', ALL_PROXY: 'e' })).toBe('HTTPS_PROXY');
    expect(pick('wss://h/', { HTTP_PROXY: 'b', WS_PROXY: 'a' })).toBe(null);
  });

  it('lower case wins over upper case; empty counts as unset', () => {
    expect(pick('ws://h/', { http_proxy: 'x', HTTP_PROXY: 'y' })).toBe('http_proxy');
    expect(pick('ws://h/', { HTTP_PROXY: 'y', http_proxy: '' })).toBe('HTTP_PROXY');
    expect(pick('ws://h/', { all_proxy: ' ' })).toBe(null);
  });

  it('NO_PROXY (either case, lower first) turns the proxy off for the hosts it names', () => {
    expect(pick('ws://h.example/', { HTTP_PROXY: 'p', NO_PROXY: 'other.example' })).toBe('HTTP_PROXY');
    expect(pick('ws://h.example/', { HTTP_PROXY: 'p', no_proxy: 'h.example', NO_PROXY: '' })).toBe(null);
  });
});

describe('NO_PROXY matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['ws://anything/', '*', true],
    ['ws://example.com/', 'example.com', true],
    ['ws://EXAMPLE.com./', 'example.COM', true],
    ['ws://api.example.com/', 'example.com', true],
    ['ws://api.example.com/', '.example.com', true],
    ['ws://api.example.com/', '*.example.com', true],
    ['ws://badexample.com/', 'example.com', false],
    ['ws://example.com.evil/', 'example.com', false],
    ['ws://example.com:8080/', 'example.com:8080', true],
    ['ws://example.com:8081/', 'example.com:8080', false],
    ['ws://example.com/', 'example.com:80', true],
    ['wss://example.com/', 'example.com:443', true],
    ['ws://example.com/', 'other.org, example.com', true],
    ['ws://example.com/', 'other.org example.com', true],
    ['ws://127.0.0.1:9000/', '127.0.0.1', true],
    ['ws://127.0.0.1:9000/', '127.0.0.1:9000', true],
    ['ws://127.0.0.2/', '127.0.0.1', false],
    ['ws://10.1.2.3/', '10.0.0.0/8', true],
    ['ws://11.1.2.3/', '10.0.0.0/8', false],
    ['ws://[::1]:9000/', '::1', true],
    ['ws://[::1]:9000/', '[::1]:9000', true],
    ['ws://[::1]/', '0:0::1', true],
    ['ws://[fd00::5]/', 'fd00::/8', true],
    ['ws://localhost/', '127.0.0.1', false],
    ['ws://example.com/', '', false],
  ];
  for (const [url, noProxy, expected] of cases) {
    it(`${url} with NO_PROXY=${JSON.stringify(noProxy)}: ${expected ? 'direct' : 'proxy'}`, () => {
      expect(bypassesProxy(new URL(url), noProxy)).toBe(expected);
    });
  }
});

describe.runIf(haveProgram('/usr/bin/tinyproxy') && haveProgram('/usr/bin/microsocks'))('for real', () => {
  async function echo(url: string, options = {}): Promise<unknown> {
    const wss = new WebSocketStream(url, options);
    const { readable, writable } = await withTimeout(wss.opened, 10_000, 'opened');
    await writable.getWriter().write('env');
    const { value } = await withTimeout(readable.getReader().read(), 10_000, 'echo');
    wss.close();
    await withTimeout(wss.closed, 10_000, 'closed');
    return value;
  }

  async function echoServer() {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    return server;
  }

  it('HTTP_PROXY is used by default for ws:', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy();
    process.env.HTTP_PROXY = proxy.url;
    expect(await echo(server.url)).toBe('env');
    expect(proxy.output()).toContain(`CONNECT 127.0.0.1:${server.port}`);
  });

  it('NO_PROXY and proxy: false bypass it', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy();
    process.env.HTTP_PROXY = proxy.url;
    process.env.NO_PROXY = `example.org, 127.0.0.1:${server.port}`;
    expect(await echo(server.url)).toBe('env');
    delete process.env.NO_PROXY;
    expect(await echo(server.url, { proxy: false })).toBe('env');
    expect(proxy.output()).not.toContain(`CONNECT 127.0.0.1:${server.port}`);
  });

  it('lower case wins: http_proxy is used when HTTP_PROXY points nowhere', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy();
    process.env.http_proxy = proxy.url;
    process.env.HTTP_PROXY = `http://127.0.0.1:${await closedPort()}`;
    expect(await echo(server.url)).toBe('env');
    expect(proxy.output()).toContain(`CONNECT 127.0.0.1:${server.port}`);
  });

  it('WS_PROXY before HTTP_PROXY, and a SOCKS URL from ALL_PROXY', async () => {
    const server = await echoServer();
    const proxy = await startTinyproxy();
    const socks = await startMicrosocks({ user: 'u', password: 'p' });
    process.env.WS_PROXY = proxy.url;
    process.env.HTTP_PROXY = `http://127.0.0.1:${await closedPort()}`;
    expect(await echo(server.url)).toBe('env');
    delete process.env.WS_PROXY;
    delete process.env.HTTP_PROXY;
    process.env.ALL_PROXY = `socks5://u:p@127.0.0.1:${socks.port}`;
    expect(await echo(server.url)).toBe('env');
  });

  it('an environment proxy that cannot be used is a clear error naming the variable or the proxy', async () => {
    const server = await echoServer();
    process.env.HTTP_PROXY = 'gopher://old.example:70';
    const bad = new WebSocketStream(server.url);
    const error = await rejectionOf(bad.opened);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as Error).message).toContain('HTTP_PROXY environment variable has an unsupported proxy scheme gopher:');
    const port = await closedPort();
    process.env.HTTP_PROXY = `127.0.0.1:${port}`; // no scheme: an HTTP proxy, as curl takes it
    const unreachable = new WebSocketStream(server.url);
    expect(((await rejectionOf(unreachable.opened)) as Error).message).toContain(`Could not reach proxy http://127.0.0.1:${port}`);
  });
});
