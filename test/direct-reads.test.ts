// The client over plain TCP reads large payloads straight into the message's own buffer
// (transport/socket-reads.ts, FrameReader.payloadTarget). These tests check that every byte still
// arrives in order, around the size thresholds, when reads stop half way through a payload, when
// the bytes come in dribbles, and when the peer vanishes mid-payload.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketStream, WebSocketError } from '../src/index.js';
import { DIRECT_PAYLOAD_MAX, FrameReader } from '../src/protocol/frame-reader.js';
import { DIRECT_READ_MIN } from '../src/transport/socket-reads.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, withTimeout } from './helpers/timing.js';
import { startWsPeer } from './helpers/ws-peer.js';
import { frame, startRawServer, type RawConnection } from './helpers/raw-server.js';

afterEach(cleanup);

type Chunk = string | Uint8Array | ArrayBuffer;

function pattern(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

async function open(url: string, options?: ConstructorParameters<typeof WebSocketStream>[1]) {
  const stream = new WebSocketStream(url, options);
  onCleanup(() => stream.close());
  const info = await withTimeout(stream.opened, 5_000, 'opened');
  return { stream, reader: info.readable.getReader() as ReadableStreamDefaultReader<Chunk> };
}

async function next(reader: ReadableStreamDefaultReader<Chunk>): Promise<Chunk> {
  const { done, value } = await withTimeout(reader.read(), 20_000, 'a message');
  if (done) throw new Error('The readable ended');
  return value;
}

function expectExactCopy(chunk: Chunk, expected: Buffer, what: string): void {
  expect(chunk, what).toBeInstanceOf(Uint8Array);
  const bytes = chunk as Uint8Array;
  expect(bytes.byteLength, what).toBe(expected.length);
  // The message owns its ArrayBuffer, exactly: never a view into a read buffer.
  expect(bytes.buffer.byteLength, what).toBe(expected.length);
  expect(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(expected), what).toBe(true);
}

describe('large messages read straight into their buffers, from a ws server', () => {
  // Around both thresholds, plus the largest size read straight in and one byte beyond it.
  const sizes = [
    100, DIRECT_READ_MIN - 1, DIRECT_READ_MIN, DIRECT_READ_MIN + 1, 65536, 65536 + 13,
    1024 * 1024, 3 * 1024 * 1024 + 7, DIRECT_PAYLOAD_MAX, DIRECT_PAYLOAD_MAX + 1,
  ];

  it('every size arrives byte for byte, in order, with small messages and pings between', async () => {
    const server = await startWsPeer({ maxPayload: 64 * 1024 * 1024 });
    const payloads = sizes.map((size, i) => pattern(size, i + 7));
    server.wss.on('connection', (ws) => {
      payloads.forEach((payload, i) => {
        ws.send(payload);
        ws.ping();
        ws.send(`between ${i}`);
      });
    });
    const { reader } = await open(server.url, { maxPayload: 64 * 1024 * 1024 });
    for (let i = 0; i < payloads.length; i++) {
      expectExactCopy(await next(reader), payloads[i]!, `message ${i} of ${sizes[i]} bytes`);
      expect(await next(reader)).toBe(`between ${i}`);
    }
  }, 60_000);

  it('a reader that pauses in the middle of large messages still gets every byte', async () => {
    const server = await startWsPeer();
    const payloads = Array.from({ length: 24 }, (_, i) => pattern(200_000 + i * 997, i + 1));
    server.wss.on('connection', (ws) => {
      for (const payload of payloads) ws.send(payload);
    });
    const { reader } = await open(server.url);
    for (let i = 0; i < payloads.length; i++) {
      // Reading stops while we wait: the socket pauses with part of a payload read in.
      if (i % 3 === 0) await delay(20);
      expectExactCopy(await next(reader), payloads[i]!, `message ${i}`);
    }
  }, 30_000);

  it('large text messages with multi-byte characters decode whole', async () => {
    const server = await startWsPeer();
    const text = 'añ€😀'.repeat(100_000); // 1 MiB of UTF-8 with every character width
    server.wss.on('connection', (ws) => {
      ws.send(text);
      ws.send(text.slice(1)); // cut inside no character: 'ñ€😀…' starts on a boundary
    });
    const { reader } = await open(server.url);
    expect(await next(reader)).toBe(text);
    expect(await next(reader)).toBe(text.slice(1));
  }, 30_000);

  it('binaryType "arraybuffer" gets the very buffer the payload was read into', async () => {
    const server = await startWsPeer();
    const payload = pattern(512 * 1024, 99);
    server.wss.on('connection', (ws) => ws.send(payload));
    const { reader } = await open(server.url, { binaryType: 'arraybuffer' });
    const chunk = await next(reader);
    expect(chunk).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(chunk as ArrayBuffer).equals(payload)).toBe(true);
  });
});

describe('large messages from a raw server', () => {
  async function rawServer(script: (conn: RawConnection) => Promise<void>) {
    const server = await startRawServer(async (conn) => {
      await conn.acceptHandshake();
      await script(conn);
    });
    onCleanup(() => server.close());
    return server;
  }

  it('a payload that arrives in dribbles, with the next header split across writes', async () => {
    const first = pattern(100_000, 3);
    const second = pattern(70_000, 4);
    const bytes = Buffer.concat([frame(0x2, first), frame(0x2, second), frame(0x1, 'done')]);
    const server = await rawServer(async (conn) => {
      // Cuts at odd places: inside the first header, inside payloads, inside the second header.
      const cuts = [1, 5, 9, 4000, 30_000, 99_999, 100_010, 100_011, 100_013, 150_000, bytes.length];
      let from = 0;
      for (const cut of cuts) {
        await conn.write(bytes.subarray(from, cut));
        from = cut;
        await delay(5);
      }
    });
    const { reader } = await open(server.url);
    expectExactCopy(await next(reader), first, 'first');
    expectExactCopy(await next(reader), second, 'second');
    expect(await next(reader)).toBe('done');
  });

  it('the peer vanishing in the middle of a large payload ends the stream with 1006, no hang', async () => {
    const payload = pattern(1024 * 1024, 5);
    const server = await rawServer(async (conn) => {
      await conn.write(frame(0x2, payload).subarray(0, 300_000));
      await delay(50);
      conn.socket.destroy();
    });
    const { stream, reader } = await open(server.url);
    const read = await withTimeout(reader.read().then(
      () => 'resolved',
      (error: unknown) => error,
    ), 5_000, 'the read');
    expect(read).toBeInstanceOf(WebSocketError);
    const error = await withTimeout(stream.closed.then(() => null, (e: unknown) => e), 5_000, 'closed');
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).closeCode).toBe(1006);
  });

  it('a header beyond maxPayload fails with 1009 before any payload is taken', async () => {
    let closeFrame: Buffer | null = null;
    const server = await rawServer(async (conn) => {
      // Only the header of a 4 MiB frame: the limit is checked on it, nothing is allocated.
      await conn.write(frame(0x2, Buffer.alloc(4 * 1024 * 1024)).subarray(0, 10));
      const reply = await conn.readFrame(5_000);
      closeFrame = reply.payload;
    });
    const { stream } = await open(server.url, { maxPayload: 1024 * 1024 });
    const error = await withTimeout(stream.closed.then(() => null, (e: unknown) => e), 5_000, 'closed');
    expect(error).toBeInstanceOf(WebSocketError);
    expect(closeFrame).not.toBeNull();
    expect(closeFrame!.readUInt16BE(0)).toBe(1009);
  });
});

describe('FrameReader.payloadTarget (no I/O)', () => {
  const reader = () => new FrameReader({
    expectMasked: false,
    maxPayload: 64 * 1024 * 1024,
    allowRsv1: false,
  });

  it('hands out the rest of the payload buffer, which becomes the frame payload itself', () => {
    const frames = reader();
    const payload = pattern(100_000, 11);
    const bytes = frame(0x2, payload);
    frames.push(bytes.subarray(0, 1000)); // the header and 990 payload bytes
    expect(frames.next()).toBeNull();
    const target = frames.payloadTarget(DIRECT_READ_MIN)!;
    expect(target.byteLength).toBe(100_000 - 990);
    target.set(bytes.subarray(1000, 50_000));
    frames.payloadReceived(target, 49_000);
    expect(frames.next()).toBeNull();
    // The rest arrives through push() (a read that went into a chunk): it is copied in.
    frames.push(bytes.subarray(50_000));
    const done = frames.next()!;
    expect(done.payload.buffer).toBe(target.buffer);
    expect(done.payload.equals(payload)).toBe(true);
  });

  it('offers nothing for control frames, fragments or small remainders', () => {
    const cases: Array<[string, Buffer]> = [
      ['a fragment', frame(0x2, Buffer.alloc(100_000), { fin: false })],
      ['a ping', frame(0x9, Buffer.alloc(100))],
      ['the last 10 KiB', frame(0x2, Buffer.alloc(20_000))],
    ];
    for (const [what, bytes] of cases) {
      const frames = reader();
      frames.push(bytes.subarray(0, Math.min(bytes.length - 1, 10_100)));
      expect(frames.next(), what).toBeNull();
      expect(frames.payloadTarget(DIRECT_READ_MIN), what).toBeNull();
    }
  });

  it('offers nothing beyond DIRECT_PAYLOAD_MAX: a header alone never allocates more', () => {
    const frames = reader();
    frames.push(frame(0x2, Buffer.alloc(DIRECT_PAYLOAD_MAX + 1)).subarray(0, 10));
    expect(frames.next()).toBeNull();
    expect(frames.payloadTarget(DIRECT_READ_MIN)).toBeNull();
  });
});
