// Interoperability with the `ws` library as the server: echo of text and binary at several sizes,
// ordering, server-initiated close, subprotocols, fragmentation, ping/pong.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { WebSocketStream } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, withTimeout } from './helpers/timing.js';
import { serverClose, startWsPeer } from './helpers/ws-peer.js';

afterEach(cleanup);

type Chunk = string | Uint8Array | ArrayBuffer;

function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

async function open(url: string, options?: ConstructorParameters<typeof WebSocketStream>[1]) {
  const stream = new WebSocketStream(url, options);
  onCleanup(() => stream.close());
  const info = await withTimeout(stream.opened, 5_000, 'opened');
  return { stream, ...info, reader: info.readable.getReader(), writer: info.writable.getWriter() };
}

async function next(reader: ReadableStreamDefaultReader<Chunk>, ms = 10_000): Promise<Chunk> {
  const { done, value } = await withTimeout(reader.read(), ms, 'a message');
  if (done) throw new Error('The readable ended');
  return value;
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

describe('echo through a ws server', () => {
  const sizes = [
    ['empty', 0],
    ['small', 5],
    ['125 bytes (7-bit length)', 125],
    ['126 bytes (16-bit length)', 126],
    ['65536 bytes (64-bit length)', 65536],
    ['1 MiB', 1024 * 1024],
    ['16 MiB', 16 * 1024 * 1024],
  ] as const;

  for (const [name, size] of sizes) {
    it(`binary, ${name}`, async () => {
      const server = await startWsPeer();
      server.wss.on('connection', echo);
      const { reader, writer } = await open(server.url);
      const payload = pattern(size, size + 1);
      await withTimeout(writer.write(payload), 10_000, 'the write');
      const echoed = await next(reader, 15_000);
      expect(echoed).toBeInstanceOf(Uint8Array);
      expect((echoed as Uint8Array).byteLength).toBe(size);
      expect(Buffer.from(echoed as Uint8Array).equals(Buffer.from(payload))).toBe(true);
    });

    it(`text, ${name}`, async () => {
      const server = await startWsPeer();
      server.wss.on('connection', echo);
      const { reader, writer } = await open(server.url);
      // Multi-byte characters throughout, so UTF-8 decoding across socket reads is exercised.
      const unit = 'a\u00e9\u20ac\u{1f600}';
      const text = unit.repeat(Math.ceil(size / 10)).slice(0, size);
      const withoutLoneSurrogate = text.toWellFormed();
      await withTimeout(writer.write(withoutLoneSurrogate), 10_000, 'the write');
      expect(await next(reader, 15_000)).toBe(withoutLoneSurrogate);
    });
  }

  it('many messages in both directions stay in order', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', echo);
    const { reader, writer } = await open(server.url);
    const count = 2_000;
    const sending = (async () => {
      for (let i = 0; i < count; i++) {
        await writer.ready;
        void writer.write(i % 2 === 0 ? `message ${i}` : new Uint32Array([i]));
      }
    })();
    for (let i = 0; i < count; i++) {
      const chunk = await next(reader);
      if (i % 2 === 0) expect(chunk).toBe(`message ${i}`);
      else expect(new Uint32Array((chunk as Uint8Array).slice().buffer)[0]).toBe(i);
    }
    await withTimeout(sending, 5_000, 'the sender');
  });

  it('a burst of messages from the server arrives complete and in order', async () => {
    const server = await startWsPeer();
    const count = 10_000;
    server.wss.on('connection', (ws) => {
      for (let i = 0; i < count; i++) ws.send(`#${i}`);
      ws.close(1000, 'all sent');
    });
    const { stream, reader } = await open(server.url);
    for (let i = 0; i < count; i++) expect(await next(reader)).toBe(`#${i}`);
    expect(await withTimeout(reader.read(), 5_000, 'the end')).toEqual({ done: true, value: undefined });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1000, reason: 'all sent' });
  });
});

describe('closing', () => {
  it('a server-initiated close passes its code and reason to closed, and the server sees its code echoed', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const { stream, reader } = await open(server.url);
    const ws = await serverWs;
    const seen = serverClose(ws);
    ws.close(4321, 'server says bye \u{1f44b}');
    expect(await withTimeout(reader.read(), 5_000, 'the end')).toEqual({ done: true, value: undefined });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 4321, reason: 'server says bye \u{1f44b}' });
    expect((await seen).code).toBe(4321); // the echo carries the code (RFC 6455 5.5.1); its reason is ours to choose
  });

  it('a client-initiated close completes with ws', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const { stream } = await open(server.url);
    const ws = await serverWs;
    const seen = serverClose(ws);
    stream.close({ closeCode: 3000, reason: 'client done' });
    expect(await seen).toEqual({ code: 3000, reason: 'client done' });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 3000, reason: 'client done' });
  });
});

describe('subprotocols', () => {
  it('the server picks the second offered', async () => {
    const server = await startWsPeer({ handleProtocols: (protocols) => [...protocols][1] ?? false });
    const offered: string[] = [];
    server.wss.on('connection', (_ws, request) => offered.push(String(request.headers['sec-websocket-protocol'])));
    const { protocol } = await open(server.url, { protocols: ['first', 'second', 'third'] });
    expect(protocol).toBe('second');
    expect(offered).toEqual(['first, second, third']);
  });

  it('the server picks none', async () => {
    const server = await startWsPeer({ handleProtocols: () => false });
    const serverWs = server.nextConnection();
    const { protocol } = await open(server.url, { protocols: ['first', 'second'] });
    expect(protocol).toBe('');
    expect((await serverWs).protocol).toBe('');
  });

  it('nothing offered: no Sec-WebSocket-Protocol header is sent', async () => {
    const server = await startWsPeer();
    const headers: Array<string | undefined> = [];
    server.wss.on('connection', (_ws, request) => headers.push(request.headers['sec-websocket-protocol']));
    const { protocol, extensions } = await open(server.url);
    expect(protocol).toBe('');
    expect(extensions).toBe('');
    expect(headers).toEqual([undefined]);
  });
});

describe('frames', () => {
  it('a fragmented text message sent by ws arrives as one chunk', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => {
      ws.send('hel', { fin: false });
      ws.send('lo, ', { fin: false });
      ws.send('world', { fin: true });
    });
    const { reader } = await open(server.url);
    expect(await next(reader)).toBe('hello, world');
  });

  it('a fragmented binary message with a ping between the fragments arrives as one chunk', async () => {
    const server = await startWsPeer();
    const pongs: string[] = [];
    server.wss.on('connection', (ws) => {
      ws.on('pong', (data) => pongs.push(data.toString()));
      ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
      ws.ping('between');
      ws.send(Buffer.alloc(100_000, 3), { binary: true, fin: false });
      ws.send(Buffer.from([4]), { binary: true, fin: true });
    });
    const { reader } = await open(server.url);
    const chunk = (await next(reader)) as Uint8Array;
    expect(chunk.byteLength).toBe(2 + 100_000 + 1);
    expect([chunk[0], chunk[1], chunk[2], chunk[100_001], chunk[100_002]]).toEqual([1, 2, 3, 3, 4]);
    expect(chunk.buffer.byteLength).toBe(chunk.byteLength);
    await withTimeout((async () => {
      while (pongs.length === 0) await delay(10);
    })(), 5_000, 'the pong');
    expect(pongs).toEqual(['between']);
  });

  it('a text message split inside a multi-byte character is decoded whole', async () => {
    const server = await startWsPeer();
    const bytes = Buffer.from('\u{1f600}\u00e9', 'utf8');
    server.wss.on('connection', (ws) => {
      ws.send(bytes.subarray(0, 2), { binary: false, fin: false });
      ws.send(bytes.subarray(2, 5), { binary: false, fin: false });
      ws.send(bytes.subarray(5), { binary: false, fin: true });
    });
    const { reader } = await open(server.url);
    expect(await next(reader)).toBe('\u{1f600}\u00e9');
  });

  it('a ping from the server gets a pong with the same payload', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    await open(server.url);
    const ws = await serverWs;
    const pong = withTimeout(once(ws, 'pong'), 5_000, 'the pong');
    ws.ping('are you there?');
    const [data] = await pong;
    expect((data as Buffer).toString()).toBe('are you there?');
  });

  it('an empty ping gets an empty pong, and unsolicited pongs are ignored', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const { reader } = await open(server.url);
    const ws = await serverWs;
    ws.pong('unsolicited');
    const pong = withTimeout(once(ws, 'pong'), 5_000, 'the pong');
    ws.ping();
    expect((await pong)[0] as Buffer).toHaveLength(0);
    ws.send('after');
    expect(await next(reader)).toBe('after');
  });
});
