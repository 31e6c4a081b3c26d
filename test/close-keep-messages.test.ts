// close({ closeCode, reason, keepMessages: true }), a Node extension: close with a code and still
// receive every message the peer sends before its Close, at the reader's pace, over real sockets
// against a `ws` server. The standard close() drops what no longer fits the queue (spec-notes).
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketError, WebSocketStream } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, rejectionOf, withTimeout } from './helpers/timing.js';
import { serverClose, startWsPeer } from './helpers/ws-peer.js';

afterEach(cleanup);

const COUNT = 200;
const SIZE = 64 * 1024;

/** A ws server that sends COUNT numbered messages of SIZE bytes at once to each client. */
async function floodingServer() {
  const server = await startWsPeer();
  server.wss.on('connection', (ws) => {
    for (let i = 0; i < COUNT; i++) ws.send(Buffer.alloc(SIZE, i % 256));
  });
  return server;
}

/** Reads everything the readable gives, slowly, and returns the first byte of each message. */
async function readSlowly(readable: ReadableStream<unknown>): Promise<number[]> {
  const firstBytes: number[] = [];
  for await (const message of readable) {
    firstBytes.push((message as Uint8Array)[0]!);
    if (firstBytes.length % 20 === 0) await delay(20);
  }
  return firstBytes;
}

describe('close({ keepMessages: true })', () => {
  it('closes with the code and reason, and the slow reader still gets every message in order', async () => {
    const server = await floodingServer();
    const serverSide = server.nextConnection();
    const wss = new WebSocketStream(server.url, { perMessageDeflate: false });
    onCleanup(() => wss.close());
    const { readable } = await withTimeout(wss.opened, 5_000, 'opened');
    const seenByServer = serverClose(await serverSide, 15_000);
    await delay(100); // the flood is on its way; nothing read yet
    wss.close({ closeCode: 1000, reason: 'stdin ended', keepMessages: true });

    const firstBytes = await withTimeout(readSlowly(readable), 15_000, 'every message');
    expect(firstBytes).toEqual(Array.from({ length: COUNT }, (_, i) => i % 256));
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 1000, reason: 'stdin ended' });
    expect(await seenByServer).toEqual({ code: 1000, reason: 'stdin ended' });
  });

  it('the standard close() instead drops what does not fit the queue (the difference the option makes)', async () => {
    const server = await floodingServer();
    const wss = new WebSocketStream(server.url, { perMessageDeflate: false });
    onCleanup(() => wss.close());
    const { readable } = await withTimeout(wss.opened, 5_000, 'opened');
    await delay(100);
    wss.close({ closeCode: 1000 });
    const firstBytes = await withTimeout(readSlowly(readable), 15_000, 'the messages kept');
    expect(firstBytes.length).toBeLessThan(COUNT);
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 1000, reason: '' });
  });

  it('closeTimeout still bounds the wait when nobody reads', async () => {
    const server = await floodingServer();
    const closeTimeout = 300;
    const wss = new WebSocketStream(server.url, { perMessageDeflate: false, closeTimeout });
    onCleanup(() => wss.close());
    await withTimeout(wss.opened, 5_000, 'opened');
    await delay(100);
    const started = performance.now();
    wss.close({ closeCode: 4000, keepMessages: true });
    const error = await rejectionOf(wss.closed, 10_000);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).closeCode).toBe(1006);
    expect((error as Error).message).toMatch(/Closing handshake timed out/);
    expect(elapsed).toBeGreaterThanOrEqual(closeTimeout - 20);
    expect(elapsed).toBeLessThan(closeTimeout + 3_000); // margin for a loaded machine
  });

  it('a later close() without it stops waiting for the reader', async () => {
    const server = await floodingServer();
    const wss = new WebSocketStream(server.url, { perMessageDeflate: false });
    onCleanup(() => wss.close());
    await withTimeout(wss.opened, 5_000, 'opened');
    await delay(100);
    wss.close({ closeCode: 4000, keepMessages: true });
    await delay(100);
    wss.close();
    // Nobody reads, yet the closing handshake completes (with the code first sent).
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 4000, reason: '' });
  });

  it('validates closeCode and reason as the standard close() does', async () => {
    const server = await floodingServer();
    const wss = new WebSocketStream(server.url);
    onCleanup(() => wss.close());
    await withTimeout(wss.opened, 5_000, 'opened');
    expect(() => wss.close({ closeCode: 1001, keepMessages: true })).toThrow(/1000 or in 3000-4999/);
  });
});
