// Real proxies for the tests, started on 127.0.0.1 and stopped after each test: Debian's
// tinyproxy (HTTP CONNECT) and microsocks (SOCKS5), and a small CONNECT proxy of our own that can
// speak TLS or answer what a test needs (a refusal, garbage, silence).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { onCleanup } from './cleanup.js';
import { closedPort } from './raw-server.js';
import { delay, withTimeout } from './timing.js';

export const TLS_KEY = readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url));
export const TLS_CERT = readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url));

/**
 * Whether `program` is installed. Missing under CI is a failure (CI installs it in .ci/run);
 * elsewhere the caller skips with a message.
 */
export function haveProgram(program: string): boolean {
  if (existsSync(program)) return true;
  if (process.env.CI) throw new Error(`${program} is missing: .ci/run installs it`);
  console.warn(`${program} is not installed: skipping its tests (apt-get install -y ${program.split('/').pop()})`);
  return false;
}

export interface RunningProxy {
  /** `http://127.0.0.1:port` or `socks5://127.0.0.1:port`, without credentials. */
  url: string;
  port: number;
  /** What the proxy printed so far (tinyproxy logs each CONNECT). */
  output(): string;
}

/** Starts a child process, stops it (by its PID) after the test, and collects its output. */
function startProcess(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.on('error', () => {});
  onCleanup(() => stopProcess(child));
  return { child, output: () => text };
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGCONT'); // in case a test paused it
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once something accepts TCP connections on `port`; rejects if `child` exits first. */
async function waitListening(child: ChildProcess, port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`The proxy exited (${child.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.on('connect', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await delay(25);
  }
  throw new Error(`The proxy did not listen on ${port} within 5 s: ${output()}`);
}

/**
 * tinyproxy on 127.0.0.1 with a config file of our own; `auth` adds BasicAuth. tinyproxy cannot
 * listen on port 0, so it gets a port the kernel just gave out (another attempt if it was taken).
 */
export async function startTinyproxy(auth?: { user: string; password: string }): Promise<RunningProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-tinyproxy-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  for (let attempt = 1; ; attempt++) {
    const port = await closedPort();
    const config = join(dir, `tinyproxy-${attempt}.conf`);
    await writeFile(config, [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 30',
      'MaxClients 50',
      'Allow 127.0.0.1',
      'LogLevel Connect',
      ...(auth ? [`BasicAuth ${auth.user} ${auth.password}`] : []),
      '',
    ].join('\n'));
    const { child, output } = startProcess('/usr/bin/tinyproxy', ['-d', '-c', config]);
    try {
      await waitListening(child, port, output);
      return { url: `http://127.0.0.1:${port}`, port, output };
    } catch (error) {
      await stopProcess(child);
      if (attempt >= 5) throw error;
    }
  }
}

/** microsocks (SOCKS5) on 127.0.0.1, port 0; `auth` requires username/password (RFC 1929). */
export async function startMicrosocks(auth?: { user: string; password: string }): Promise<RunningProxy> {
  const args = ['-i', '127.0.0.1', '-p', '0', ...(auth ? ['-u', auth.user, '-P', auth.password] : [])];
  const { child, output } = startProcess('/usr/bin/microsocks', args);
  const port = await withTimeout(listeningPort(child), 5_000, 'microsocks to listen');
  return { url: `socks5://127.0.0.1:${port}`, port, output };
}

/** The TCP port a child process listens on, from /proc (the program does not print it). */
async function listeningPort(child: ChildProcess): Promise<number> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`The process exited (${child.exitCode})`);
    const inodes = new Set<string>();
    try {
      for (const fd of readdirSync(`/proc/${child.pid}/fd`)) {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${child.pid}/fd/${fd}`));
        if (match) inodes.add(match[1]!);
      }
    } catch {
      // not there yet
    }
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/);
        // local address, state 0A = LISTEN, inode
        if (fields[3] === '0A' && inodes.has(fields[9]!)) return parseInt(fields[1]!.split(':')[1]!, 16);
      }
    }
    await delay(20);
  }
}

export interface OwnProxy extends RunningProxy {
  /** The request heads the proxy received (request line and headers). */
  requests: string[];
}

/**
 * A CONNECT proxy of our own: plain or (with `tls`) an https: proxy. `answer` decides what to say
 * to a request head: null tunnels (200, then pipes), a string is written as is and the connection
 * closed, 'silence' never answers.
 */
export async function startOwnProxy(options: { tls?: boolean; answer?: (head: string) => string | null | 'silence' } = {}): Promise<OwnProxy> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const onConnection = (client: Socket): void => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const head = received.subarray(0, end).toString('latin1');
      requests.push(head);
      const answer = options.answer?.(head) ?? null;
      if (answer === 'silence') return;
      if (answer !== null) {
        client.end(answer);
        return;
      }
      const [, authority] = head.split(' ');
      const url = new URL(`http://${authority}`);
      const upstream = netConnect(Number(url.port), url.hostname.replace(/^\[|\]$/g, ''));
      sockets.add(upstream);
      upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('connect', () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        const rest = received.subarray(end + 4);
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream).pipe(client);
      });
    };
    client.on('data', onData);
  };
  const server: Server = options.tls
    ? createTlsServer({ key: TLS_KEY, cert: TLS_CERT }, onConnection)
    : createNetServer(onConnection);
  onCleanup(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  server.listen(0, '127.0.0.1');
  await withTimeout(once(server, 'listening'), 5_000, 'listen');
  const { port } = server.address() as AddressInfo;
  return { url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`, port, requests, output: () => requests.join('\n') };
}
