// Keepalive: pings every keepaliveInterval, a silent client is dropped after keepaliveTimeout of
// *reading time*. The paused-reading cases are the point: when our readable is full, the client's
// pong waits unread behind its data, and the client must not be blamed for our slowness.
import { afterEach, describe, expect, it } from 'vitest';
import { acceptWebSocketStream, WebSocketError, WebSocketStream, type AcceptOptions } from '../src/index.js';
import { delay, withTimeout } from './helpers/timing.js';
import { startUpgradeServer, type UpgradeServer } from './helpers/upgrade-server.js';
import { clientFrame, RawClient } from './helpers/raw-client.js';

let server: UpgradeServer | undefined;
const streams: WebSocketStream[] = [];
const rawClients: RawClient[] = [];

afterEach(async () => {
  for (const client of rawClients.splice(0)) client.destroy();
  for (const wss of streams.splice(0)) wss.close();
  await server?.close();
  server = undefined;
});

async function serverWith(onStream: (wss: WebSocketStream) => unknown, options: AcceptOptions): Promise<void> {
  server = await startUpgradeServer((request, socket, head) => {
    const wss = acceptWebSocketStream(request, socket, head, options);
    streams.push(wss);
    void Promise.resolve(onStream(wss)).catch(() => {});
  });
}

async function acceptedStream(): Promise<WebSocketStream> {
  await withTimeout((async () => {
    while (streams.length === 0) await delay(5);
  })(), 3000, 'an accepted stream');
  return streams[0]!;
}

/** Settles to 'open' if `closed` has not settled after `ms`. */
function stateAfter(wss: WebSocketStream, ms: number): Promise<string> {
  return Promise.race([
    wss.closed.then(() => 'closed', (e: Error) => `failed: ${e.message}`),
    delay(ms).then(() => 'open'),
  ]);
}

/** Sends masked binary frames until the socket has not drained for `stallMs` (bounded by `max`). */
async function floodUntilStalled(raw: RawClient, frame: Buffer, max: number, stallMs: number): Promise<number> {
  for (let i = 0; i < max; i++) {
    if (!raw.socket.write(frame)) {
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => raw.socket.once('drain', () => resolve(true))),
        delay(stallMs).then(() => false),
      ]);
      if (!drained) return i + 1;
    }
  }
  throw new Error(`never stalled after ${max} frames`);
}

describe('keepalive', () => {
  it('pings every interval and drops a client that never answers', async () => {
    await serverWith(async (wss) => {
      for await (const _ of (await wss.opened).readable) { /* reading: the clock runs */ }
    }, { keepaliveInterval: 100, keepaliveTimeout: 150 });
    const { client: raw } = await RawClient.open(server!.port);
    rawClients.push(raw);
    const wss = await acceptedStream();
    const started = Date.now();
    const ping = await raw.readFrame(1000);
    expect(ping).toMatchObject({ opcode: 0x9, masked: false });
    await raw.waitForEnd(3000);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(1500);
    const error = await wss.closed.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).closeCode).toBe(1006);
    expect((error as Error).message).toMatch(/Keepalive: the peer sent nothing for 150 ms of reading time/);
  });

  it('keeps a client that answers (our client pongs by itself)', async () => {
    await serverWith(async (wss) => {
      for await (const _ of (await wss.opened).readable) { /* reading */ }
    }, { keepaliveInterval: 50 });
    const client = new WebSocketStream(server!.url);
    streams.push(client);
    await client.opened;
    const wss = await acceptedStream();
    expect(await stateAfter(wss, 600)).toBe('open');
    client.close({ closeCode: 1000 });
    await expect(wss.closed).resolves.toMatchObject({ closeCode: 1000 });
  });

  it('any message counts as an answer', async () => {
    await serverWith(async (wss) => {
      for await (const _ of (await wss.opened).readable) { /* reading */ }
    }, { keepaliveInterval: 50, keepaliveTimeout: 250 });
    const { client: raw } = await RawClient.open(server!.port);
    rawClients.push(raw);
    const wss = await acceptedStream();
    // Never a pong, but a message every 30 ms.
    for (let i = 0; i < 20; i++) {
      raw.write(clientFrame(0x1, `tick ${i}`));
      await delay(30);
    }
    expect(await stateAfter(wss, 0)).toBe('open');
  });

  it('does not drop a healthy client whose pong waits behind data we are not reading', async () => {
    let readable!: ReadableStream;
    await serverWith(async (wss) => {
      readable = (await wss.opened).readable;
    }, { keepaliveInterval: 100, keepaliveTimeout: 250 });
    const client = new WebSocketStream(server!.url);
    streams.push(client);
    const writer = (await client.opened).writable.getWriter();
    const wss = await acceptedStream();
    // Fill every buffer between the client and our paused readable.
    let written = 0;
    for (; written < 2000; written++) {
      const done = await Promise.race([writer.write(new Uint8Array(64 * 1024)).then(() => true), delay(300).then(() => false)]);
      if (!done) break;
    }
    expect(written).toBeLessThan(2000);
    // Eight timeouts of wall time while we do not read: the client must survive them.
    expect(await stateAfter(wss, 2000)).toBe('open');
    const reader = readable.getReader();
    for (let i = 0; i <= written; i++) await withTimeout(reader.read(), 5000, `message ${i}`);
    expect(await stateAfter(wss, 500)).toBe('open');
    client.close({ closeCode: 1000 });
    await expect(wss.closed).resolves.toMatchObject({ closeCode: 1000 });
  });

  it('drops a silent client only once we read again and it still does not answer', async () => {
    let readable!: ReadableStream;
    await serverWith(async (wss) => {
      readable = (await wss.opened).readable;
    }, { keepaliveInterval: 100, keepaliveTimeout: 250 });
    const { client: raw } = await RawClient.open(server!.port);
    rawClients.push(raw);
    const wss = await acceptedStream();
    const frames = await floodUntilStalled(raw, clientFrame(0x2, Buffer.alloc(64 * 1024)), 2000, 300);
    // Paused by our backpressure, the silence is not held against the client.
    expect(await stateAfter(wss, 1500)).toBe('open');
    const reader = readable.getReader();
    let read = 0;
    const outcome = await withTimeout((async () => {
      for (;;) {
        try {
          const { done } = await reader.read();
          if (done) return 'ended';
          read++;
        } catch (error) {
          return (error as Error).message;
        }
      }
    })(), 5000, 'the readable to fail');
    // Everything the client sent arrives first; then, reading and hearing nothing, we drop it.
    expect(read).toBe(frames);
    expect(outcome).toMatch(/Keepalive/);
  });
});
