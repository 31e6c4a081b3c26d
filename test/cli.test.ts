// The `websocketstream` command, built (dist/cli.js) and run as a child process over real loopback
// sockets: against our own server and a `ws` server, and as a server for `ws` clients.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsClient } from 'ws';
import { serve, type WebSocketStreamServer } from '../src/index.js';
import { rssOf, runCli, startCli, stopClis } from './helpers/cli.js';
import { cleanup } from './helpers/cleanup.js';
import { delay, waitFor, withTimeout } from './helpers/timing.js';
import { serverClose, startWsPeer } from './helpers/ws-peer.js';
import { startSilentServer } from './helpers/raw-server.js';

let ours: WebSocketStreamServer | undefined;

afterEach(async () => {
  await stopClis();
  await ours?.close();
  ours = undefined;
  await cleanup();
});

/** Our own server; the handler gets each connection after its handshake. */
async function startOurServer(handler: Parameters<typeof serve>[1]): Promise<string> {
  ours = await serve({ host: '127.0.0.1', port: 0 }, handler);
  return ours.url;
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('websocketstream <url>: pipes', () => {
  it('sends each stdin line as a text message and prints each message as a line (our server)', async () => {
    const received: unknown[] = [];
    const closes: Array<{ closeCode: number; reason: string }> = [];
    const url = await startOurServer(async (wss) => {
      const { readable, writable } = await wss.opened;
      // Sent before the server can see the CLI's Close, so they reach it whatever the timing.
      const writer = writable.getWriter();
      await writer.write('greeting');
      await writer.write('two\nlines');
      for await (const message of readable) received.push(message);
      closes.push(await wss.closed);
    });
    const { status, stdout, stderr } = await runCli([url], 'one\ntwo\r\n\nlast without newline');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout.toString()).toBe('greeting\ntwo\nlines\n');
    await waitFor(() => closes.length === 1, 5_000, 'the server to see the close');
    expect(received).toEqual(['one', 'two', '', 'last without newline']);
    // stdin's end closed the connection cleanly, with 1000.
    expect(closes[0]).toEqual({ closeCode: 1000, reason: '' });
  });

  it("stdin's end closes with 1000 and still prints every echo while stdout is slow (ws echo server)", async () => {
    const server = await startWsPeer({ perMessageDeflate: false });
    server.wss.on('connection', (ws) => ws.on('message', (data) => ws.send(String(data))));
    const connection = server.nextConnection();
    const lines = Array.from({ length: 4096 }, (_, i) => `${i} ${'x'.repeat(2000)}`);
    const cli = startCli([server.url]);
    const closed = serverClose(await connection, 15_000);
    cli.child.stdin.end(`${lines.join('\n')}\n`);
    // Nobody reads stdout for a while: the 8 MiB of echoes back up into the CLI and the socket,
    // long after the CLI sent its Close.
    cli.child.stdout.pause();
    await delay(1_500);
    const chunks: Buffer[] = [];
    cli.child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    cli.child.stdout.resume();
    expect(await withTimeout(cli.exited, 15_000, 'exit')).toBe(0);
    expect(await closed).toEqual({ code: 1000, reason: '' });
    expect(Buffer.concat(chunks).toString().split('\n')).toEqual([...lines, '']);
    expect(cli.stderr()).toBe('');
  });

  it('closes with --close-code and --close-reason at the end of stdin (ws server)', async () => {
    const server = await startWsPeer();
    const connection = server.nextConnection();
    const cli = runCli([server.url, '--close-code', '4001', '--close-reason', 'done here'], 'hello\n');
    const ws = await connection;
    const received = once(ws, 'message');
    const closed = serverClose(ws);
    expect(String((await received)[0])).toBe('hello');
    expect(await closed).toEqual({ code: 4001, reason: 'done here' });
    expect((await cli).status).toBe(0);
  });

  it('--binary round-trips random bytes byte for byte through a ws echo server', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
    const input = randomBytes(3 * 1024 * 1024 + 17);
    const { status, stdout, stderr } = await runCli(['--binary', server.url], input);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout.length).toBe(input.length);
    expect(sha256(stdout)).toBe(sha256(input));
  });

  it('sends the -H headers, --origin and the -s subprotocols; the server sees them', async () => {
    let request: IncomingMessage | undefined;
    const server = await startWsPeer({ handleProtocols: (offered) => [...offered][1] ?? false });
    server.wss.on('connection', (ws, req) => {
      request = req;
      ws.send(`protocol ${ws.protocol}`);
    });
    const { status, stdout } = await runCli(
      ['-H', 'X-Token: abc 123', '--header', 'X-Other:two', '--origin', 'https://example.test', '-s', 'v1', '-s', 'v2', '-n', '1', server.url],
      '',
    );
    expect(status).toBe(0);
    expect(stdout.toString()).toBe('protocol v2\n');
    expect(request!.headers['x-token']).toBe('abc 123');
    expect(request!.headers['x-other']).toBe('two');
    expect(request!.headers.origin).toBe('https://example.test');
    expect(request!.headers['sec-websocket-protocol']).toBe('v1, v2');
  });

  it('exits with 1 and one line naming the HTTP status when the handshake is refused', async () => {
    const server = await startWsPeer({ verifyClient: (_info, done) => done(false, 403, 'Go away') });
    const { status, stdout, stderr } = await runCli([server.url], 'never sent\n');
    expect(status).toBe(1);
    expect(stdout.length).toBe(0);
    expect(stderr).toMatch(/^websocketstream: cannot connect to ws:\/\/127\.0\.0\.1:\d+\/: .*403.*\n$/);
  });

  it('exits with 1 when the connection drops, and prints the peer close code when not 1000', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws, req) => {
      ws.send('before');
      if (req.url === '/drop') setTimeout(() => ws.terminate(), 50);
      else ws.close(4321, 'bye now');
    });
    const drop = startCli([`${server.url}/drop`]);
    const dropped = await withTimeout(drop.exited, 10_000, 'exit after the drop');
    expect(dropped).toBe(1);
    expect(drop.stderr()).toMatch(/^websocketstream: connection failed: .+\n$/);

    const { status, stdout, stderr } = await runCli([`${server.url}/close`]);
    expect(status).toBe(0);
    expect(stdout.toString()).toBe('before\n');
    expect(stderr).toBe('websocketstream: the server closed the connection with code 4321, reason "bye now"\n');
  });

  it('--keep-open stays connected after stdin ends: a request, then the answers that follow', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.on('message', (request) => {
      // Answers come well after the request (and stdin's end).
      for (let i = 1; i <= 3; i++) setTimeout(() => ws.send(`${String(request)} ${i}`), 200 * i);
    }));
    const { status, stdout } = await runCli(['--keep-open', '-n', '3', server.url], 'tick\n');
    expect(status).toBe(0);
    expect(stdout.toString()).toBe('tick 1\ntick 2\ntick 3\n');
  });

  it('SIGINT or SIGTERM closes with --close-code, and the tool exits after the closing handshake', async () => {
    const server = await startWsPeer();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const connection = server.nextConnection();
      const cli = startCli(['--close-code', '4002', server.url]);
      const closed = serverClose(await connection);
      cli.child.kill(signal);
      expect(await closed).toEqual({ code: 4002, reason: '' });
      expect(await withTimeout(cli.exited, 5_000, 'exit')).toBe(0);
    }
  });

  it('wss: trusts --ca, skips the check with -k, and presents --cert/--key to a server that asks', async () => {
    const tls = new URL('./fixtures/tls/', import.meta.url);
    const cert = readFileSync(new URL('cert.pem', tls));
    const key = readFileSync(new URL('key.pem', tls));
    // The self-signed certificate is its own CA: the server asks clients for one signed by it.
    const https = createHttpsServer({ cert, key, ca: cert, requestCert: true, rejectUnauthorized: false });
    const server = await startWsPeer({}, https);
    server.wss.on('connection', (ws, req) => {
      const socket = req.socket as TLSSocket;
      ws.send(socket.authorized ? `client ${socket.getPeerCertificate().subject.CN}` : 'anonymous client');
    });
    const url = server.url.replace('ws:', 'wss:');
    const certPath = new URL('cert.pem', tls).pathname;
    const keyPath = new URL('key.pem', tls).pathname;

    const untrusted = await runCli(['-N', '-n', '1', url]);
    expect(untrusted.status).toBe(1);
    expect(untrusted.stderr).toMatch(/^websocketstream: cannot connect to wss:.*certificate/);
    const insecure = await runCli(['-N', '-n', '1', '-k', url]);
    expect([insecure.status, insecure.stdout.toString()]).toEqual([0, 'anonymous client\n']);
    const trusted = await runCli(['-N', '-n', '1', '--ca', certPath, '--cert', certPath, '--key', keyPath, url]);
    expect([trusted.status, trusted.stdout.toString()]).toEqual([0, 'client localhost\n']);
    expect((await runCli(['--ca', '/nonexistent/ca.pem', url])).status).toBe(2);
  });

  it('offers permessage-deflate unless --no-deflate; --timeout bounds the opening handshake', async () => {
    const offers: Array<string | undefined> = [];
    const server = await startWsPeer({ perMessageDeflate: true });
    server.wss.on('connection', (ws, req) => {
      offers.push(req.headers['sec-websocket-extensions']);
      ws.send('x'.repeat(4096)); // compressed on the way when agreed
    });
    const deflated = await runCli(['-N', '-n', '1', server.url]);
    const plain = await runCli(['-N', '-n', '1', '--no-deflate', server.url]);
    expect([deflated.status, plain.status]).toEqual([0, 0]);
    expect(deflated.stdout.toString()).toBe(`${'x'.repeat(4096)}\n`);
    expect(plain.stdout.toString()).toBe(`${'x'.repeat(4096)}\n`);
    expect(offers[0]).toMatch(/permessage-deflate/);
    expect(offers[1]).toBeUndefined();

    const silent = await startSilentServer();
    const started = Date.now();
    const timedOut = await runCli(['--timeout', '300', silent.url]);
    expect(timedOut.status).toBe(1);
    expect(timedOut.stderr).toMatch(/timed out after 300 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('-n closes after n messages; --max-payload fails a larger message with 1009', async () => {
    const server = await startWsPeer();
    const closes: number[] = [];
    server.wss.on('connection', (ws, req) => {
      ws.on('close', (code) => closes.push(code));
      if (req.url === '/big') ws.send('x'.repeat(2000));
      else for (let i = 1; i <= 10; i++) ws.send(`message ${i}`);
    });
    const limited = await runCli(['-n', '3', server.url]);
    expect(limited.status).toBe(0);
    expect(limited.stdout.toString()).toBe('message 1\nmessage 2\nmessage 3\n');

    const big = await runCli(['--max-payload', '1000', `${server.url}/big`]);
    expect(big.status).toBe(1);
    expect(big.stderr).toMatch(/1009/);
    await waitFor(() => closes.length === 2, 5_000, 'both closes');
    expect(closes).toEqual([1000, 1009]);
  });

  it('stops reading the socket while stdout is not read: the server stalls, memory stays bounded', async () => {
    const messageSize = 64 * 1024;
    const messages = 1024; // 64 MiB on offer
    let accepted = 0;
    const url = await startOurServer(async (wss) => {
      const { writable } = await wss.opened;
      const writer = writable.getWriter();
      const payload = randomBytes(messageSize);
      for (let i = 0; i < messages; i++) {
        await writer.ready; // resolves when the socket took the previous message
        accepted += messageSize;
        writer.write(payload).catch(() => {});
      }
      await writer.close().catch(() => {});
    });
    const cli = startCli(['--binary', url]); // stdin stays open: its end would close the connection
    // Nobody reads the CLI's stdout: its pipe fills, then the CLI must stop reading the socket.
    let last = -1;
    for (let stable = 0; stable < 3;) {
      await delay(500);
      stable = accepted === last ? stable + 1 : 0;
      last = accepted;
    }
    const rss = rssOf(cli.child.pid!);
    // What the server got rid of is what the kernels' socket buffers and the CLI hold: a few MiB,
    // nowhere near the 64 MiB on offer (Writable.toWeb(process.stdout) takes it all on Node 20).
    expect(accepted).toBeLessThan(24 * 1024 * 1024);
    expect(rss).toBeLessThan(160 * 1024 * 1024);

    let received = 0;
    cli.child.stdout.on('data', (chunk: Buffer) => (received += chunk.length));
    expect(await withTimeout(cli.exited, 30_000, 'the CLI to finish')).toBe(0);
    expect(received).toBe(messageSize * messages);
    expect(accepted).toBe(messageSize * messages);
  });

  it('reports usage mistakes with status 2; --help and --version print and exit 0', async () => {
    const bad = await runCli(['--close-code', '1001', 'ws://127.0.0.1:1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--close-code must be 1000 or 3000-4999/);
    expect((await runCli(['ws://a', 'ws://b'])).status).toBe(2);
    expect((await runCli(['ftp://127.0.0.1/'])).stderr).toMatch(/scheme/);
    expect((await runCli(['--broadcast', 'ws://127.0.0.1:1'])).stderr).toMatch(/--broadcast needs --listen/);
    expect((await runCli(['--listen', '0', '--unix-socket', '/tmp/x.sock'])).stderr).toMatch(/--unix-socket has no meaning with --listen/);
    expect((await runCli(['--proxy', 'gopher://p', 'ws://127.0.0.1:1'])).status).toBe(2);
    const help = await runCli(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout.toString()).toMatch(/^Usage: websocketstream/);
    const version = await runCli(['--version']);
    expect(version.stdout.toString()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('the installed package', () => {
  it('installs the websocketstream command (npm pack, npm install, node_modules/.bin)', { timeout: 90_000 }, async () => {
    const run = promisify(execFile);
    const dir = await mkdtemp(join(tmpdir(), 'wss-cli-install-'));
    try {
      const { stdout: tarball } = await run('npm', ['pack', '--silent', '--pack-destination', dir], { timeout: 60_000 });
      await writeFile(join(dir, 'package.json'), '{"name":"cli-install-test","private":true}');
      await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(dir, tarball.trim())], { cwd: dir, timeout: 60_000 });
      const bin = join(dir, 'node_modules', '.bin', 'websocketstream');
      const server = await startWsPeer();
      server.wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`got ${String(data)}`)));
      const child = execFile(bin, ['-N', '-n', '1', server.url], { timeout: 15_000 });
      child.stdin!.end('hi\n');
      let stdout = '';
      child.stdout!.on('data', (text: string) => (stdout += text));
      const [status] = await once(child, 'exit');
      expect(status).toBe(0);
      expect(stdout).toBe('got hi\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('websocketstream --listen', () => {
  /** Starts the CLI as a server; resolves with it and its URL once it listens. */
  async function listen(...args: string[]): Promise<{ cli: ReturnType<typeof startCli>; url: string; stdout: () => string }> {
    const cli = startCli(['--listen', '0', ...args]);
    let stdout = '';
    cli.child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    const [, url] = await cli.waitForStderr(/listening on (ws:\/\/127\.0\.0\.1:\d+\/)/);
    return { cli, url: url!, stdout: () => stdout };
  }

  /** A `ws` client, with every message it receives collected. */
  async function wsClient(url: string): Promise<{ ws: WsClient; messages: string[]; closed: Promise<{ code: number; reason: string }> }> {
    const ws = new WsClient(url);
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(String(data)));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    await withTimeout(once(ws, 'open'), 5_000, 'ws client open');
    return { ws, messages, closed };
  }

  it('serves a ws client: its messages to stdout, stdin lines to it; SIGTERM closes it with 1001', async () => {
    const { cli, url, stdout } = await listen();
    const client = await wsClient(url);
    client.ws.send('from the client');
    await waitFor(() => stdout() === 'from the client\n', 5_000, 'the message on stdout');
    cli.child.stdin.write('from stdin\n');
    await waitFor(() => client.messages.length === 1, 5_000, 'the line at the client');
    expect(client.messages).toEqual(['from stdin']);

    cli.child.kill('SIGTERM');
    expect((await withTimeout(client.closed, 5_000, 'close')).code).toBe(1001);
    expect(await withTimeout(cli.exited, 5_000, 'exit')).toBe(0);
  });

  it('serves one client at a time: the next one gets stdin once the first is gone', async () => {
    const { cli, url, stdout } = await listen();
    const first = await wsClient(url);
    await cli.waitForStderr(/client 1 connected/);
    const second = await wsClient(url);
    await cli.waitForStderr(/client 2 connected/);
    cli.child.stdin.write('for the first\n');
    second.ws.send('queued from the second');
    await waitFor(() => first.messages.length === 1, 5_000, 'the first client to get the line');
    await delay(200);
    expect(second.messages).toEqual([]);
    expect(stdout()).toBe('');

    first.ws.close(1000);
    await cli.waitForStderr(/client 1 closed \(code 1000\)/);
    await waitFor(() => stdout() === 'queued from the second\n', 5_000, 'the second client to be served');
    cli.child.stdin.write('for the second\n');
    await waitFor(() => second.messages.length === 1, 5_000, 'the second client to get the line');
    expect(second.messages).toEqual(['for the second']);
    expect(first.messages).toEqual(['for the first']);

    // stdin's end: nothing more to send, so the server closes its clients (1000) and exits.
    cli.child.stdin.end();
    expect((await withTimeout(second.closed, 5_000, 'close')).code).toBe(1000);
    expect(await withTimeout(cli.exited, 5_000, 'exit')).toBe(0);
  });

  it('--broadcast sends stdin lines to every client and prints from all of them', async () => {
    const { cli, url, stdout } = await listen('--broadcast');
    const a = await wsClient(url);
    const b = await wsClient(url);
    await cli.waitForStderr(/client 2 connected/);
    cli.child.stdin.write('to everyone\n');
    await waitFor(() => a.messages.length === 1 && b.messages.length === 1, 5_000, 'both clients to get the line');
    expect([a.messages, b.messages]).toEqual([['to everyone'], ['to everyone']]);
    a.ws.send('from a');
    b.ws.send('from b');
    await waitFor(() => stdout().split('\n').length === 3, 5_000, 'both messages on stdout');
    expect(stdout().split('\n').sort()).toEqual(['', 'from a', 'from b']);
    cli.child.kill('SIGINT');
    expect((await withTimeout(a.closed, 5_000, 'close a')).code).toBe(1001);
    expect((await withTimeout(b.closed, 5_000, 'close b')).code).toBe(1001);
    expect(await withTimeout(cli.exited, 5_000, 'exit')).toBe(0);
  });

  it('--keep-open keeps serving after stdin ends', async () => {
    const { cli, url, stdout } = await listen('--keep-open');
    cli.child.stdin.end();
    await delay(200);
    const client = await wsClient(url);
    client.ws.send('still here');
    await waitFor(() => stdout() === 'still here\n', 5_000, 'the message on stdout');
    cli.child.kill('SIGTERM');
    expect((await withTimeout(client.closed, 5_000, 'close')).code).toBe(1001);
    expect(await withTimeout(cli.exited, 5_000, 'exit')).toBe(0);
  });

  it('--echo sends every message back to its sender, -s picks the subprotocol', async () => {
    const { cli, url } = await listen('--echo', '-s', 'chat');
    const ws = new WsClient(url, ['other', 'chat']);
    await withTimeout(once(ws, 'open'), 5_000, 'open');
    expect(ws.protocol).toBe('chat');
    ws.send(Buffer.from([1, 2, 3]));
    const [data, isBinary] = await withTimeout(once(ws, 'message'), 5_000, 'echo');
    expect(isBinary).toBe(true);
    expect([...(data as Buffer)]).toEqual([1, 2, 3]);
    ws.close(4000, 'thanks');
    await cli.waitForStderr(/client 1 closed \(code 4000, reason "thanks"\)/);
    cli.child.kill('SIGINT');
    expect(await withTimeout(cli.exited, 5_000, 'exit')).toBe(0);
  });
});
