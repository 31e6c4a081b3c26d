// The accepted side as a WebSocketStream: our own client against acceptWebSocketStream (echo,
// closing both ways, limits, backpressure both ways), and a raw client for the server role's
// framing rules (unmasked out, masked in, unmasked in is 1002).
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptWebSocketStream, WebSocketError, WebSocketStream, type AcceptOptions } from '../src/index.js';
import { delay, withTimeout } from './helpers/timing.js';
import { readAll, startUpgradeServer, type UpgradeServer } from './helpers/upgrade-server.js';
import { clientFrame, closePayload, handshakeRequest, RawClient } from './helpers/raw-client.js';

let server: UpgradeServer | undefined;
const streams: WebSocketStream[] = [];
const rawClients: RawClient[] = [];
/** Servers a test started itself (the https one). */
const closers: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const client of rawClients.splice(0)) client.destroy();
  for (const wss of streams.splice(0)) wss.close();
  await server?.close();
  server = undefined;
});

/** Starts a server that accepts with `options` and runs `onStream` for each accepted stream. */
async function serverWith(onStream: (wss: WebSocketStream) => unknown, options?: AcceptOptions): Promise<string> {
  server = await startUpgradeServer((request, socket, head) => {
    const wss = acceptWebSocketStream(request, socket, head, options);
    streams.push(wss);
    void Promise.resolve(onStream(wss)).catch(() => {});
  });
  return server.url;
}

function client(url: string, options?: ConstructorParameters<typeof WebSocketStream>[1]): WebSocketStream {
  const wss = new WebSocketStream(url, options);
  streams.push(wss);
  return wss;
}

async function echo(wss: WebSocketStream): Promise<void> {
  const { readable, writable } = await wss.opened;
  await readable.pipeTo(writable).catch(() => {});
}

describe('echo with our own client', () => {
  it('echoes text and binary, in order, with the selected subprotocol on both sides', async () => {
    let accepted: WebSocketStream | undefined;
    const url = await serverWith((wss) => {
      accepted = wss;
      return echo(wss);
    }, { protocols: ['v2', 'v1'] });
    const wss = client(`${url}/echo?x=1`, { protocols: ['v1', 'v2'] });
    const { readable, writable, protocol, extensions } = await wss.opened;
    expect(protocol).toBe('v1');
    expect(extensions).toBe('');
    expect((await accepted!.opened).protocol).toBe('v1');
    expect(accepted!.url).toBe(`${url}/echo?x=1`);

    const writer = writable.getWriter();
    const reader = readable.getReader();
    const big = new Uint8Array(300_000).map((_, i) => i & 0xff);
    await writer.write('hello');
    await writer.write(new Uint8Array([1, 2, 3]));
    await writer.write('h\u00e9llo \u{1f600}');
    await writer.write(big);
    expect((await reader.read()).value).toBe('hello');
    expect((await reader.read()).value).toEqual(new Uint8Array([1, 2, 3]));
    expect((await reader.read()).value).toBe('h\u00e9llo \u{1f600}');
    const echoed = (await reader.read()).value as Uint8Array;
    expect(echoed.byteLength).toBe(big.byteLength);
    expect(Buffer.compare(echoed, big)).toBe(0);
  });

  // Each side echoes the code AND the reason of the Close it answers, as ws and python-websockets do.
  it('the client closes with a code and reason: the server sees both and echoes both', async () => {
    let accepted!: WebSocketStream;
    const url = await serverWith(async (wss) => {
      accepted = wss;
      await wss.opened;
    });
    const wss = client(url);
    await wss.opened;
    wss.close({ closeCode: 4001, reason: 'client says bye' });
    await expect(wss.closed).resolves.toEqual({ closeCode: 4001, reason: 'client says bye' });
    await expect(accepted.closed).resolves.toEqual({ closeCode: 4001, reason: 'client says bye' });
  });

  it('the server closes with a code and reason: the client sees both and echoes both', async () => {
    let accepted!: WebSocketStream;
    const url = await serverWith(async (wss) => {
      accepted = wss;
      await wss.opened;
      wss.close({ closeCode: 4002, reason: 'server says bye' });
    });
    const wss = client(url);
    const { readable } = await wss.opened;
    await readAll(readable);
    await expect(wss.closed).resolves.toEqual({ closeCode: 4002, reason: 'server says bye' });
    await expect(accepted.closed).resolves.toEqual({ closeCode: 4002, reason: 'server says bye' });
  });

  it('writer.close() on the server ends the client\'s readable after every message', async () => {
    const url = await serverWith(async (wss) => {
      const { writable } = await wss.opened;
      const writer = writable.getWriter();
      for (let i = 0; i < 50; i++) void writer.write(`m${i}`);
      await writer.close();
    });
    const wss = client(url);
    const { readable } = await wss.opened;
    const messages = await readAll(readable);
    expect(messages).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    await expect(wss.closed).resolves.toEqual({ closeCode: 1005, reason: '' });
  });

  it('closes with 1009 when the client sends more than maxPayload', async () => {
    let accepted!: WebSocketStream;
    const url = await serverWith((wss) => {
      accepted = wss;
      return echo(wss);
    }, { maxPayload: 1000 });
    const wss = client(url);
    const { writable, readable } = await wss.opened;
    const writer = writable.getWriter();
    await writer.write(new Uint8Array(1000));
    const reader = readable.getReader();
    expect(((await reader.read()).value as Uint8Array).byteLength).toBe(1000);
    await writer.write(new Uint8Array(1001)).catch(() => {});
    const closed = await wss.closed.then((info) => info, (error: unknown) => error);
    // Our client reports the server's Close frame code once the handshake completes.
    expect(closed).toMatchObject({ closeCode: 1009 });
    const error = await accepted.closed.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as Error).message).toMatch(/1000-byte limit.*1009/);
  });
});

describe('over TLS', () => {
  it('accepts on an https server: wss: url, echo through TLS', async () => {
    const key = readFileSync('test/fixtures/tls/key.pem');
    const cert = readFileSync('test/fixtures/tls/cert.pem');
    const tlsServer = createHttpsServer({ key, cert });
    const accepted: WebSocketStream[] = [];
    tlsServer.on('upgrade', (request, socket, head) => {
      const wss = acceptWebSocketStream(request, socket, head);
      accepted.push(wss);
      streams.push(wss);
      void echo(wss);
    });
    closers.push(() => {
      tlsServer.closeAllConnections();
      return new Promise((resolve) => tlsServer.close(resolve));
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    const port = (tlsServer.address() as AddressInfo).port;
    const wss = client(`wss://127.0.0.1:${port}/secure`, { ca: cert });
    const { readable, writable } = await wss.opened;
    await writable.getWriter().write('over TLS');
    expect((await readable.getReader().read()).value).toBe('over TLS');
    expect(accepted[0]!.url).toBe(`wss://127.0.0.1:${port}/secure`);
    wss.close({ closeCode: 1000 });
    await expect(accepted[0]!.closed).resolves.toMatchObject({ closeCode: 1000 });
  });
});

describe('server role framing (raw client)', () => {
  it('sends unmasked frames and reads masked ones', async () => {
    await serverWith(echo);
    const { client: raw } = await RawClient.open(server!.port);
    rawClients.push(raw);
    raw.write(clientFrame(0x1, 'masked hello'));
    const frame = await raw.readFrame();
    expect(frame).toMatchObject({ fin: true, opcode: 0x1, masked: false });
    expect(frame.payload.toString()).toBe('masked hello');
    // A ping is answered with an unmasked pong carrying the same payload.
    raw.write(clientFrame(0x9, 'are you there'));
    expect(await raw.readFrame()).toMatchObject({ opcode: 0xa, masked: false, payload: Buffer.from('are you there') });
  });

  it('fails the connection with 1002 on an unmasked frame from the client', async () => {
    let accepted!: WebSocketStream;
    await serverWith((wss) => {
      accepted = wss;
      return echo(wss);
    });
    const { client: raw } = await RawClient.open(server!.port);
    rawClients.push(raw);
    raw.write(clientFrame(0x1, 'not masked', { mask: false }));
    const close = await raw.readFrame();
    expect(close.opcode).toBe(0x8);
    expect(close.masked).toBe(false);
    expect(close.payload.readUInt16BE(0)).toBe(1002);
    expect(close.payload.subarray(2).toString()).toMatch(/Unmasked frame from the client/);
    await raw.waitForEnd();
    const error = await accepted.closed.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).closeCode).toBe(1006);
    expect((error as Error).message).toMatch(/Unmasked frame from the client.*1002/);
  });

  it('delivers frames the client sent right behind its request (in head)', async () => {
    const messages: unknown[] = [];
    await serverWith(async (wss) => {
      const { readable } = await wss.opened;
      for await (const message of readable) messages.push(message);
    });
    const raw = await RawClient.connect(server!.port);
    rawClients.push(raw);
    raw.write(Buffer.concat([
      Buffer.from(handshakeRequest('/')),
      clientFrame(0x1, 'early'),
      clientFrame(0x2, Buffer.from([9, 9])),
      clientFrame(0x8, closePayload(1000, 'done')),
    ]));
    expect((await raw.readResponse()).status).toBe(101);
    expect((await raw.readFrame()).payload.readUInt16BE(0)).toBe(1000);
    await raw.waitForEnd();
    await withTimeout((async () => {
      while (messages.length < 2) await delay(5);
    })(), 2000, 'the early messages');
    expect(messages).toEqual(['early', new Uint8Array([9, 9])]);
  });

  it('destroys the socket after closeTimeout when the client never answers a Close', async () => {
    let accepted!: WebSocketStream;
    await serverWith(async (wss) => {
      accepted = wss;
      await wss.opened;
      wss.close({ closeCode: 1000 });
    }, { closeTimeout: 200 });
    const { client: raw } = await RawClient.open(server!.port);
    rawClients.push(raw);
    expect((await raw.readFrame()).opcode).toBe(0x8);
    const started = Date.now();
    await raw.waitForEnd(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await expect(accepted.closed).rejects.toMatchObject({ closeCode: 1006 });
  });
});

/** Writes `chunk` until `maxWrites` or until a write has not completed for `stallMs`. */
async function writeUntilStalled(writer: WritableStreamDefaultWriter<unknown>, chunk: (i: number) => unknown, maxWrites: number, stallMs: number): Promise<number> {
  let written = 0;
  for (let i = 0; i < maxWrites; i++) {
    const done = writer.write(chunk(i)).then(() => true, () => true);
    const stalled = await Promise.race([done, delay(stallMs).then(() => false)]);
    if (!stalled) return written;
    written++;
  }
  return written;
}

describe('backpressure', () => {
  const CHUNK = 64 * 1024;
  const numbered = (i: number): Uint8Array => {
    const chunk = new Uint8Array(CHUNK);
    new DataView(chunk.buffer).setUint32(0, i);
    return chunk;
  };

  it('a server that stops reading stalls the client\'s writes; reading again delivers everything in order', async () => {
    let serverReadable!: ReadableStream;
    const url = await serverWith(async (wss) => {
      serverReadable = (await wss.opened).readable;
    });
    const wss = client(url);
    const writer = (await wss.opened).writable.getWriter();
    const written = await writeUntilStalled(writer, numbered, 2000, 300);
    // Stalled well before 2000 x 64 KiB: the kernel buffers on both ends hold a few MiB at most.
    expect(written).toBeLessThan(2000);
    expect(written).toBeGreaterThan(0);
    // The write that stalled (number `written`) is still queued and goes out once the server reads.
    const reader = serverReadable.getReader();
    for (let i = 0; i <= written; i++) {
      const { value } = await withTimeout(reader.read(), 5000, `message ${i}`);
      expect(new DataView((value as Uint8Array).buffer).getUint32(0)).toBe(i);
    }
  });

  it('a client that stops reading stalls the server\'s writes; reading again delivers everything in order', async () => {
    let serverWritten = -1;
    const url = await serverWith(async (wss) => {
      const writer = (await wss.opened).writable.getWriter();
      serverWritten = await writeUntilStalled(writer, numbered, 2000, 300);
    });
    const wss = client(url);
    const { readable } = await wss.opened;
    await withTimeout((async () => {
      while (serverWritten < 0) await delay(20);
    })(), 15_000, 'the server to stall');
    expect(serverWritten).toBeLessThan(2000);
    expect(serverWritten).toBeGreaterThan(0);
    const reader = readable.getReader();
    for (let i = 0; i < serverWritten; i++) {
      const { value } = await withTimeout(reader.read(), 5000, `message ${i}`);
      expect(new DataView((value as Uint8Array).buffer).getUint32(0)).toBe(i);
    }
  });
});
