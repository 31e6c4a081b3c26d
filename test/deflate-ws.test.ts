// permessage-deflate against the `ws` library, both ways over loopback: our client with a ws server
// and a ws client with our server, with and without context takeover, text and binary,
// compressible and random data, small and 16 MiB. Also: compression really happens on the wire,
// a bomb from a real peer ends with 1009, and backpressure holds with compression on.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsClient, type PerMessageDeflateOptions as WsDeflate, type WebSocket } from 'ws';
import { acceptWebSocketStream, WebSocketStream, type AcceptOptions, type WebSocketStreamOptions } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, withTimeout } from './helpers/timing.js';
import { startWsPeer } from './helpers/ws-peer.js';
import { startUpgradeServer } from './helpers/upgrade-server.js';

afterEach(cleanup);

type Chunk = string | Uint8Array | ArrayBuffer;
const MiB = 1024 * 1024;

function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

/** JSON-like text: compresses 5-10x, like the feeds permessage-deflate is for. */
function compressibleText(length: number): string {
  let text = '';
  for (let i = 0; text.length < length; i++) text += JSON.stringify({ id: i, name: `item ${i}`, price: i * 1.5, tags: ['a', 'b'] });
  return text.slice(0, length);
}

function randomText(length: number): string {
  // Base64 of random bytes: incompressible beyond its 6 bits per character.
  return randomBytes(Math.ceil(length * 0.75) + 3).toString('base64').slice(0, length);
}

const payloads: Array<[string, () => string | Uint8Array]> = [
  ['compressible text, small', () => compressibleText(2000)],
  ['random text, small', () => randomText(2000)],
  ['compressible binary, small', () => Buffer.from(compressibleText(3000))],
  ['random binary, small', () => randomBytes(3000)],
  ['tiny text under the threshold', () => 'hi'],
  ['compressible text, 16 MiB', () => compressibleText(16 * MiB)],
  ['random binary, 16 MiB', () => randomBytes(16 * MiB)],
  ['compressible binary, 16 MiB', () => Buffer.from(compressibleText(16 * MiB))],
  ['random text, 16 MiB', () => randomText(16 * MiB)],
];

function same(a: Chunk, b: string | Uint8Array): boolean {
  if (typeof b === 'string') return a === b;
  return a instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b));
}

const modes: Array<[string, WsDeflate, WebSocketStreamOptions['perMessageDeflate'], AcceptOptions['perMessageDeflate']]> = [
  ['context takeover', { threshold: 0 }, true, true],
  [
    'no context takeover',
    { threshold: 0, serverNoContextTakeover: true, clientNoContextTakeover: true },
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
  ],
];

for (const [mode, wsDeflate, clientDeflate, serverDeflate] of modes) {
  describe(`our client, ws server with perMessageDeflate (${mode})`, () => {
    for (const [name, make] of payloads) {
      it(`echoes ${name}, twice (the second message reuses the context)`, async () => {
        const server = await startWsPeer({ perMessageDeflate: wsDeflate, maxPayload: 64 * MiB });
        server.wss.on('connection', echo);
        let wireBytes = 0;
        server.wss.on('connection', (ws) => {
          const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
          onCleanup(() => void (wireBytes = socket.bytesRead));
        });
        const stream = new WebSocketStream(server.url, { perMessageDeflate: clientDeflate });
        onCleanup(() => stream.close());
        const { readable, writable, extensions } = await withTimeout(stream.opened, 5_000, 'opened');
        expect(extensions).toMatch(/^permessage-deflate/);
        if (mode === 'no context takeover') expect(extensions).toContain('server_no_context_takeover');
        const reader = readable.getReader();
        const writer = writable.getWriter();
        const payload = make();
        for (let round = 0; round < 2; round++) {
          await withTimeout(writer.write(payload), 20_000, 'the write');
          const { value } = await withTimeout(reader.read(), 20_000, 'the echo');
          expect(same(value!, payload)).toBe(true);
        }
      });
    }

    it('compresses on the wire: a 1 MiB JSON-like message takes a fraction of its size', async () => {
      const server = await startWsPeer({ perMessageDeflate: wsDeflate });
      const received = new Promise<{ bytes: number; text: string }>((resolve) => {
        server.wss.on('connection', (ws) => {
          const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
          ws.on('message', (data) => resolve({ bytes: socket.bytesRead, text: String(data) }));
        });
      });
      const stream = new WebSocketStream(server.url, { perMessageDeflate: clientDeflate });
      onCleanup(() => stream.close());
      const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
      const text = compressibleText(MiB);
      await writable.getWriter().write(text);
      const { bytes, text: got } = await withTimeout(received, 10_000, 'the message');
      expect(got).toBe(text);
      expect(bytes).toBeLessThan(MiB / 5);
    });
  });

  describe(`our server with perMessageDeflate, ws client (${mode})`, () => {
    for (const [name, make] of payloads) {
      it(`echoes ${name}, twice`, async () => {
        const ours = await startUpgradeServer((request, socket, head) => {
          const wss = acceptWebSocketStream(request, socket, head, { perMessageDeflate: serverDeflate });
          onCleanup(() => wss.close());
          void wss.opened.then(({ readable, writable }) => readable.pipeTo(writable)).catch(() => {});
        });
        onCleanup(() => ours.close());
        const client = new WsClient(ours.url, { perMessageDeflate: wsDeflate, maxPayload: 64 * MiB });
        onCleanup(() => client.terminate());
        await withTimeout(once(client, 'open'), 5_000, 'open');
        expect(client.extensions).toMatch(/^permessage-deflate/);
        const payload = make();
        for (let round = 0; round < 2; round++) {
          const echoed = once(client, 'message');
          client.send(payload, { binary: typeof payload !== 'string' });
          const [data, isBinary] = await withTimeout(echoed, 20_000, 'the echo');
          expect(isBinary).toBe(typeof payload !== 'string');
          expect(same(isBinary ? new Uint8Array(data as Buffer) : String(data), payload)).toBe(true);
        }
      });
    }
  });
}

describe('limits and backpressure with a real peer', () => {
  it('a ws server sending 32 MiB of zeros (about 32 KiB compressed) to a client with maxPayload 1 MiB: 1009', async () => {
    const server = await startWsPeer({ perMessageDeflate: { threshold: 0 } });
    const closed = new Promise<number>((resolve) => {
      server.wss.on('connection', (ws) => {
        ws.on('close', (code) => resolve(code));
        ws.send(Buffer.alloc(32 * MiB));
      });
    });
    const stream = new WebSocketStream(server.url, { maxPayload: MiB });
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const error = await withTimeout(readable.getReader().read().then(() => null, (e: unknown) => e), 10_000, 'the failure');
    expect(String(error)).toMatch(/once inflated.*close code 1009/);
    expect(await withTimeout(closed, 5_000, 'the server to see the close')).toBe(1009);
  });

  it('a client that does not read stops the ws sender (random data, so the wire carries full size)', async () => {
    const server = await startWsPeer({ perMessageDeflate: { threshold: 0 } });
    const sent = new Promise<WebSocket>((resolve) => {
      server.wss.on('connection', (ws) => {
        const chunk = randomBytes(256 * 1024);
        for (let i = 0; i < 64; i++) ws.send(chunk); // 16 MiB in total
        resolve(ws);
      });
    });
    const stream = new WebSocketStream(server.url);
    onCleanup(() => stream.close());
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await withTimeout(sent, 5_000, 'the server');
    const reader = readable.getReader();
    await withTimeout(reader.read(), 5_000, 'the first message');
    await delay(500);
    // Kernel buffers hold a few MiB at most: most of the 16 MiB is still queued in ws.
    expect(ws.bufferedAmount).toBeGreaterThan(4 * MiB);
    for (let i = 1; i < 64; i++) await withTimeout(reader.read(), 10_000, `message ${i}`);
    await withTimeout((async () => { while (ws.bufferedAmount > 0) await delay(10); })(), 5_000, 'ws to drain');
  });

  it('inflating never runs ahead of the readable: highly compressible messages stay compressed until read', async () => {
    // 512 messages of 256 KiB of one byte value: 128 MiB once inflated, a few hundred KiB on the
    // wire, so all of it fits in the kernel's buffers. If inflating ran ahead of demand, this
    // process would hold those 128 MiB; it must hold about one message. (One shared source buffer
    // keeps the ws server's own memory out of the figure.)
    const COUNT = 512;
    const SIZE = 256 * 1024;
    const source = Buffer.alloc(SIZE, 0x61);
    const server = await startWsPeer({ perMessageDeflate: { threshold: 0 } });
    const sent = new Promise<void>((resolve) => {
      server.wss.on('connection', (ws) => {
        for (let i = 0; i < COUNT; i++) ws.send(source);
        ws.send('end', () => resolve());
      });
    });
    const before = process.memoryUsage().arrayBuffers;
    const stream = new WebSocketStream(server.url);
    onCleanup(() => stream.close());
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    await withTimeout(sent, 10_000, 'the server to write everything');
    await delay(500); // time for the client to read ahead, if it would
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * MiB);
    const reader = readable.getReader();
    for (let i = 0; i < COUNT; i++) {
      const { value } = await withTimeout(reader.read(), 10_000, `message ${i}`);
      expect((value as Uint8Array).byteLength).toBe(SIZE);
    }
    expect((await withTimeout(reader.read(), 5_000, 'the last message')).value).toBe('end');
  });

  it('messages compressed and not compressed keep their order in both directions, with pings between', async () => {
    const server = await startWsPeer({ perMessageDeflate: { threshold: 100 } });
    server.wss.on('connection', (ws) => {
      echo(ws);
      const timer = setInterval(() => ws.ping('p'), 1);
      ws.on('close', () => clearInterval(timer));
    });
    const stream = new WebSocketStream(server.url, { perMessageDeflate: { threshold: 100 } });
    onCleanup(() => stream.close());
    const { readable, writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    const reader = readable.getReader();
    const count = 500;
    const message = (i: number): string => (i % 3 === 0 ? `${i}:${'x'.repeat(i * 10)}` : `${i}`);
    // Not awaited one by one: several messages are compressing at once.
    const writes = Array.from({ length: count }, (_, i) => writer.write(message(i)));
    for (let i = 0; i < count; i++) expect((await withTimeout(reader.read(), 5_000, `message ${i}`)).value).toBe(message(i));
    await Promise.all(writes);
    stream.close({ closeCode: 1000, reason: 'done' });
    await withTimeout(stream.closed, 5_000, 'closed');
  });
});
