// Shared by the tests that talk to a real `ws` server on 127.0.0.1: start servers on port 0, close
// every one of them after each test, and bound every wait with a timeout.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';

export interface TestServer {
  wss: WebSocketServer;
  /** `ws://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** TCP connections accepted by the HTTP server, opened handshakes or not. */
  tcpConnections: number;
  /** The server side of the next WebSocket connection. */
  nextConnection(timeoutMs?: number): Promise<WebSocket>;
}

const cleanups: Array<() => Promise<void> | void> = [];

/** Runs (in reverse order) everything the helpers registered; call it from afterEach. */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await withTimeout(Promise.resolve(fn()), 5_000, 'cleanup');
    } catch {
      // a server that refuses to close must not hide the test's own result
    }
  }
}

/** Registers something to undo after the current test. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** A `ws` WebSocketServer on 127.0.0.1, port 0, on its own HTTP server (so TCP connects are counted). */
export async function startServer(
  options: Omit<ServerOptions, 'server' | 'port' | 'host' | 'noServer'> = {},
  httpServer: HttpServer = createHttpServer(),
): Promise<TestServer> {
  const wss = new WebSocketServer({ ...options, server: httpServer });
  const sockets = new Set<Socket>();
  const state: TestServer = {
    wss,
    url: '',
    port: 0,
    tcpConnections: 0,
    nextConnection: (timeoutMs = 5_000) =>
      withTimeout(once(wss, 'connection').then(([ws]) => ws as WebSocket), timeoutMs, 'server connection'),
  };
  httpServer.on('connection', (socket: Socket) => {
    state.tcpConnections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // For an https server too, 'connection' is the raw TCP socket, before any TLS handshake.
  onCleanup(async () => {
    for (const client of wss.clients) client.terminate();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
  });
  httpServer.listen(0, '127.0.0.1');
  await withTimeout(once(httpServer, 'listening'), 5_000, 'listen');
  state.port = (httpServer.address() as AddressInfo).port;
  state.url = `ws://127.0.0.1:${state.port}`;
  return state;
}

/** A TCP server that accepts connections and never answers (a handshake that hangs). */
export async function startSilentServer(): Promise<{ url: string; connections: Socket[]; server: NetServer }> {
  const connections: Socket[] = [];
  const server = createNetServer((socket) => {
    connections.push(socket);
    socket.on('error', () => {});
    socket.resume(); // read and ignore the request
  });
  onCleanup(async () => {
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  server.listen(0, '127.0.0.1');
  await withTimeout(once(server, 'listening'), 5_000, 'listen');
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, connections, server };
}

/** A port on 127.0.0.1 where nothing listens (it was listening a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const NOT_SETTLED = Symbol('not settled');

/** What `promise` settled with within `ms`, or NOT_SETTLED: for "this must still be pending" checks. */
export async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ status: 'fulfilled'; value: T } | { status: 'rejected'; reason: unknown } | typeof NOT_SETTLED> {
  let timer: NodeJS.Timeout;
  const outcome = promise.then(
    (value) => ({ status: 'fulfilled' as const, value }),
    (reason: unknown) => ({ status: 'rejected' as const, reason }),
  );
  return Promise.race([
    outcome,
    new Promise<typeof NOT_SETTLED>((resolve) => {
      timer = setTimeout(() => resolve(NOT_SETTLED), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The rejection reason of `promise` (fails if it fulfils or takes longer than `ms`). */
export async function rejectionOf(promise: Promise<unknown>, ms = 5_000, what = 'a rejection'): Promise<unknown> {
  return withTimeout(
    promise.then(
      (value) => {
        throw new Error(`Expected ${what}, but the promise fulfilled with ${String(value)}`);
      },
      (reason: unknown) => reason,
    ),
    ms,
    what,
  );
}

/** Polls `condition` every 10 ms until it is true; fails after `ms`. */
export async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await delay(10);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until the bytes a `ws` sender got rid of (sent minus its bufferedAmount) stop growing for
 * `quietMs`: the sender has stalled. Returns that plateau.
 */
export async function waitForStall(ws: WebSocket, sent: () => number, quietMs = 500, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const flushed = sent() - ws.bufferedAmount;
    if (flushed !== last) {
      last = flushed;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return flushed;
    }
    if (Date.now() > deadline) throw new Error(`The sender never stalled (flushed ${flushed} bytes)`);
    await delay(25);
  }
}

/** The code and reason of the server side's 'close' event. */
export function serverClose(ws: WebSocket, ms = 5_000): Promise<{ code: number; reason: string }> {
  return withTimeout(
    once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: (reason as Buffer).toString() })),
    ms,
    'the server to see the close',
  );
}

/**
 * Bundles src/index.ts into a temporary directory for child processes (which cannot load
 * TypeScript on Node 20). A private copy avoids racing other test files or `npm run build` over
 * dist/, and always tests the current source. Returns the path of the ESM file.
 */
export async function bundleLibrary(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-bundle-'));
  bundleDirs.push(dir);
  const { build } = await import('tsup');
  await build({
    entry: { index: fileURLToPath(new URL('../../src/index.ts', import.meta.url)) },
    format: ['esm'],
    outDir: dir,
    platform: 'node',
    target: 'node20',
    config: false,
    silent: true,
    dts: false,
    sourcemap: false,
    clean: false,
  });
  return join(dir, 'index.js');
}

const bundleDirs: string[] = [];


/** Removes the bundles made by bundleLibrary(); call it from afterAll. */
export async function removeBundles(): Promise<void> {
  for (const dir of bundleDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** Runs `node` with arguments; resolves with exit code and output (never rejects on a non-zero code). */
export function runNode(
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({
        code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
        signal: err?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}
