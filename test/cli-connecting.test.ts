// The command's connection options, run as the built dist/cli.js child process over real sockets:
// --proxy through Debian's tinyproxy, --unix-socket to our server on a Unix socket, and
// --keepalive finding a server process that stopped (SIGSTOP).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptWebSocketStream } from '../src/index.js';
import { runCli, startCli, stopClis } from './helpers/cli.js';
import { haveProgram, startTinyproxy, stopProcess } from './helpers/proxies.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, withTimeout } from './helpers/timing.js';
import { startWsPeer } from './helpers/ws-peer.js';

afterEach(async () => {
  await stopClis();
  await cleanup();
});

describe('websocketstream --proxy', () => {
  it.runIf(haveProgram('/usr/bin/tinyproxy'))('connects through an HTTP proxy (tinyproxy logs the CONNECT)', async () => {
    const proxy = await startTinyproxy();
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${String(data)}`)));
    const { status, stdout, stderr } = await runCli(['--keep-open', '-n', '2', '--proxy', proxy.url, server.url], 'one\ntwo\n');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout.toString()).toBe('echo one\necho two\n');
    expect(proxy.output()).toMatch(new RegExp(`CONNECT.*127\\.0\\.0\\.1:${server.port}`));
  });

  it('names the proxy when it cannot be reached', async () => {
    const server = await startWsPeer();
    const { status, stderr } = await runCli(['--proxy', 'http://127.0.0.1:1', server.url], '');
    expect(status).toBe(1);
    expect(stderr).toMatch(/^websocketstream: cannot connect to ws:.*127\.0\.0\.1:1/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('websocketstream --unix-socket', () => {
  it('talks to our server on a Unix socket; Host and path come from the URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wss-cli-'));
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'ws.sock');
    const requests: IncomingMessage[] = [];
    const server = createHttpServer();
    server.on('upgrade', async (request, socket, head) => {
      requests.push(request);
      const wss = acceptWebSocketStream(request, socket, head);
      try {
        const { readable, writable } = await wss.opened;
        await readable.pipeTo(writable);
      } catch {
        // the test is over
      }
    });
    server.listen(path);
    await once(server, 'listening');
    onCleanup(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

    const { status, stdout, stderr } = await runCli(['--keep-open', '-n', '2', '--unix-socket', path, 'ws://my.service/chat?room=1'], 'hello\nworld\n');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout.toString()).toBe('hello\nworld\n');
    expect(requests[0]!.url).toBe('/chat?room=1');
    expect(requests[0]!.headers.host).toBe('my.service');
  });
});

describe('websocketstream --keepalive (client)', () => {
  it('drops a server process that stops answering (SIGSTOP) within interval + timeout + margin', async () => {
    // A ws server in a process of its own: paused, its kernel still holds the TCP connection.
    const server = spawn(process.execPath, ['--input-type=module', '-e', `
      import { WebSocketServer } from 'ws';
      const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      server.on('listening', () => console.log(server.address().port));
      server.on('connection', (ws) => ws.on('message', (data) => ws.send(String(data))));
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    onCleanup(() => stopProcess(server));
    const [line] = await withTimeout(once(server.stdout!, 'data'), 10_000, 'the server process to listen') as [Buffer];
    const url = `ws://127.0.0.1:${Number(line.toString().trim())}/`;

    const interval = 300;
    const cli = startCli(['--keepalive', String(interval), url]);
    cli.child.stdin.write('alive?\n');
    const [echo] = await withTimeout(once(cli.child.stdout, 'data'), 10_000, 'the echo') as [Buffer];
    expect(echo.toString()).toBe('alive?\n');
    // A live server answers the pings: several intervals later the tool still runs.
    await delay(4 * interval);
    expect(cli.child.exitCode).toBeNull();

    server.kill('SIGSTOP');
    const stopped = performance.now();
    const status = await withTimeout(cli.exited, 10_000, 'the tool to give up');
    const elapsed = performance.now() - stopped;
    expect(status).toBe(1);
    expect(cli.stderr()).toMatch(/^websocketstream: connection failed: Keepalive: the peer sent nothing for 300 ms/);
    // keepaliveTimeout defaults to the interval.
    expect(elapsed).toBeGreaterThanOrEqual(interval - 20);
    expect(elapsed).toBeLessThan(2 * interval + 2_000); // margin for a loaded machine
  });
});
