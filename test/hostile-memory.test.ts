// Hostile peers, both roles, over real loopback sockets: whatever the other end sends, the memory
// we hold stays bounded. Our client against a raw server (helpers/raw-server.ts), our serve()
// server against a raw client (helpers/raw-client.ts). "Retained" is live memory after a forced GC
// (helpers/memory.ts), measured while the attack is in progress.
import { afterEach, describe, expect, it } from 'vitest';
import { serve, WebSocketStream, type WebSocketStreamServer } from '../src/index.js';
import { MiB, retainedBytes } from './helpers/memory.js';
import { delay, withTimeout } from './helpers/timing.js';
import { clientFrame, RawClient } from './helpers/raw-client.js';
import { frame, startRawServer, type RawConnection, type RawServer } from './helpers/raw-server.js';

const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
const WAIT = 8000;
/** Fragments in a fragment flood: before the fix each cost ~100 bytes of retained memory. */
const FRAGMENTS = 200_000;
/** Pings in a ping flood (125 bytes each, about 19 MiB of pongs if each were answered). */
const PINGS = 150_000;

const rawServers: RawServer[] = [];
const servers: WebSocketStreamServer[] = [];
let rawClients: RawClient[] = [];
let clients: WebSocketStream[] = [];

afterEach(async () => {
  for (const client of rawClients) client.destroy();
  for (const client of clients) client.close();
  rawClients = [];
  clients = [];
  await Promise.all([...rawServers.splice(0), ...servers.splice(0)].map((server) => server.close()));
});

/** One message sent as a first frame and `count - 1` continuation frames of one byte, FIN not set. */
type BuildFrame = (opcode: number, payload: Buffer, spec: { fin: boolean }) => Buffer;

function fragmentFlood(count: number, build: BuildFrame): { bytes: Buffer; payload: Buffer } {
  const payload = Buffer.alloc(count, 0x61);
  const frames: Buffer[] = [build(OP.binary, payload.subarray(0, 1), { fin: false })];
  for (let i = 1; i < count; i++) frames.push(build(OP.cont, payload.subarray(i, i + 1), { fin: false }));
  return { bytes: Buffer.concat(frames), payload };
}

function pingFlood(count: number, build: (opcode: number, payload: Buffer) => Buffer): Buffer {
  const ping = Buffer.alloc(125, 0x70);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(build(OP.ping, ping));
  return Buffer.concat(frames);
}

async function rawServer(onConnection: (conn: RawConnection) => void | Promise<void>): Promise<RawServer> {
  const server = await startRawServer(onConnection);
  rawServers.push(server);
  return server;
}

/** A serve() server whose handler reads every message into `received`. */
async function readingServer(received: Array<string | Uint8Array>): Promise<WebSocketStreamServer> {
  const server = await serve({ host: '127.0.0.1', handshakeTimeout: 2000, onError: ignore }, async (wss) => {
    const { readable } = await wss.opened;
    for await (const message of readable) received.push(message as string | Uint8Array);
  });
  servers.push(server);
  return server;
}

async function openRaw(server: WebSocketStreamServer): Promise<RawClient> {
  const { client } = await RawClient.open(server.port);
  rawClients.push(client);
  return client;
}

async function until(predicate: () => boolean, what: string, ms = WAIT): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('fragment flood: a message in one-byte fragments costs its bytes, not an object per fragment', () => {
  it('client role: a raw server sends 200,000 fragments', async () => {
    const { bytes, payload } = fragmentFlood(FRAGMENTS, frame);
    let conn!: RawConnection;
    const server = await rawServer(async (c) => {
      conn = c;
      await c.acceptHandshake();
    });
    const ws = new WebSocketStream(server.url, { perMessageDeflate: false });
    clients.push(ws);
    const reader = (await withTimeout(ws.opened, WAIT, 'opened')).readable.getReader();
    const message = reader.read();
    const baseline = retainedBytes();
    await conn.write(bytes);
    // The pong proves every fragment before the ping was parsed.
    await conn.write(frame(OP.ping, 'sync'));
    expect((await conn.readFrame(WAIT)).opcode).toBe(OP.pong);
    const growth = retainedBytes() - baseline;
    await conn.write(frame(OP.cont, 'z'));
    const { value } = await withTimeout(message, WAIT, 'the message');
    expect(Buffer.from(value as Uint8Array).equals(Buffer.concat([payload, Buffer.from('z')]))).toBe(true);
    expect(growth).toBeLessThan(8 * MiB);
  });

  it('server role: a raw client sends 200,000 fragments', async () => {
    const { bytes, payload } = fragmentFlood(FRAGMENTS, clientFrame);
    const received: Array<string | Uint8Array> = [];
    const server = await readingServer(received);
    const client = await openRaw(server);
    const baseline = retainedBytes();
    client.write(bytes);
    client.write(clientFrame(OP.ping, 'sync'));
    expect((await client.readFrame(WAIT)).opcode).toBe(OP.pong);
    const growth = retainedBytes() - baseline;
    client.write(clientFrame(OP.cont, 'z'));
    await until(() => received.length === 1, 'the message');
    expect(Buffer.from(received[0] as Uint8Array).equals(Buffer.concat([payload, Buffer.from('z')]))).toBe(true);
    expect(growth).toBeLessThan(8 * MiB);
  });
});

describe('ping flood from a peer that never reads: one pong waits, and reading goes on', () => {
  // Reading does not stop while a pong waits: when both ends did that with full buffers (bulk
  // both ways, pings both ways) neither could drain (test/duplex-keepalive.test.ts). What bounds a
  // flood is that only the latest ping's pong waits.
  it('client role: a raw server pings 150,000 times and reads nothing; the message behind arrives', async () => {
    const flood = Buffer.concat([pingFlood(PINGS, (opcode, payload) => frame(opcode, payload)), frame(OP.text, 'done')]);
    const server = await rawServer(async (c) => {
      await c.acceptHandshake();
      c.socket.removeAllListeners('data');
      c.socket.pause();
      c.write(flood).catch(() => {});
    });
    const ws = new WebSocketStream(server.url, { perMessageDeflate: false });
    clients.push(ws);
    const reader = (await withTimeout(ws.opened, WAIT, 'opened')).readable.getReader();
    const baseline = retainedBytes();
    // The server reads none of our pongs, yet the message behind its pings arrives.
    expect((await withTimeout(reader.read(), 20_000, 'the message behind the pings')).value).toBe('done');
    const growth = retainedBytes() - baseline;
    expect(growth).toBeLessThan(8 * MiB);
  });

  it('server role: a raw client pings 150,000 times and reads nothing; the message behind arrives', async () => {
    const received: Array<string | Uint8Array> = [];
    const server = await readingServer(received);
    const client = await openRaw(server);
    client.socket.pause();
    const flood = Buffer.concat([pingFlood(PINGS, (opcode, payload) => clientFrame(opcode, payload)), clientFrame(OP.text, 'done')]);
    const baseline = retainedBytes();
    client.write(flood);
    await until(() => received.length === 1, 'the message behind the pings', 20_000);
    const growth = retainedBytes() - baseline;
    expect(received).toEqual(['done']);
    expect(growth).toBeLessThan(8 * MiB);
  });

  it('once the peer reads again, every ping is answered in order and the message behind them arrives', async () => {
    const received: Array<string | Uint8Array> = [];
    const server = await readingServer(received);
    const client = await openRaw(server);
    client.socket.pause();
    const flood = pingFlood(PINGS / 3, (opcode, payload) => clientFrame(opcode, payload));
    client.write(Buffer.concat([flood, clientFrame(OP.ping, 'last one'), clientFrame(OP.text, 'done')]));
    await delay(500);
    client.socket.resume();
    let last: Buffer | null = null;
    let pongs = 0;
    for (let i = 0; i < PINGS; i++) {
      const reply = await client.readFrame(WAIT);
      expect(reply.opcode).toBe(OP.pong);
      pongs++;
      if (reply.payload.toString() === 'last one') {
        last = reply.payload;
        break;
      }
    }
    expect(last?.toString()).toBe('last one');
    expect(pongs).toBeLessThanOrEqual(PINGS / 3 + 1);
    await until(() => received.length === 1, 'the message behind the pings');
  });
});

describe('dribble: a message in one-byte TCP writes is delivered whole, in linear time', () => {
  it('server role: 64 KiB written one byte at a time', async () => {
    const received: Array<string | Uint8Array> = [];
    const server = await readingServer(received);
    const client = await openRaw(server);
    const payload = Buffer.alloc(64 * 1024, 0x33);
    const bytes = clientFrame(OP.binary, payload);
    for (let i = 0; i < bytes.length; i++) client.write(bytes.subarray(i, i + 1));
    await until(() => received.length === 1, 'the dribbled message', 20_000);
    expect(Buffer.from(received[0] as Uint8Array).equals(payload)).toBe(true);
  });
});

describe('a peer that never reads', () => {
  it('server role: the application\'s writes stall; pongs and the Close do not pile up behind them', async () => {
    let settled = 0;
    const server = await serve({ host: '127.0.0.1', onError: ignore }, async (wss) => {
      const { writable } = await wss.opened;
      const writer = writable.getWriter();
      for (let i = 0; i < 16; i++) writer.write(new Uint8Array(MiB)).then(() => settled++, () => {});
    });
    servers.push(server);
    const client = await openRaw(server);
    client.socket.pause();
    const flood = pingFlood(PINGS, (opcode, payload) => clientFrame(opcode, payload));
    await delay(200);
    const baseline = retainedBytes();
    client.write(flood);
    await delay(1500);
    const growth = retainedBytes() - baseline;
    expect(settled).toBeLessThan(16);
    expect(growth).toBeLessThan(8 * MiB);
  });
});

/** The handlers' streams fail when a raw client is destroyed at the end of a test: expected. */
function ignore(): void {}

describe('after a Close, nothing more is parsed or kept', () => {
  it('client role: 8 MiB of garbage behind the server\'s Close is ignored', async () => {
    let conn!: RawConnection;
    const server = await rawServer(async (c) => {
      conn = c;
      await c.acceptHandshake();
    });
    const ws = new WebSocketStream(server.url, { perMessageDeflate: false });
    clients.push(ws);
    await withTimeout(ws.opened, WAIT, 'opened');
    const close = Buffer.from([0x88, 0x02, 0x0f, 0xa0]); // Close 4000
    const garbage = Buffer.alloc(8 * MiB, 0xff); // an unknown opcode, over and over
    const baseline = retainedBytes();
    conn.write(close).catch(() => {});
    conn.write(garbage).catch(() => {});
    const reply = await conn.readFrame(WAIT);
    expect(reply.opcode).toBe(OP.close);
    expect(reply.payload.readUInt16BE(0)).toBe(4000);
    await delay(300);
    const growth = retainedBytes() - baseline;
    conn.socket.end();
    expect(await withTimeout(ws.closed, WAIT, 'closed')).toEqual({ closeCode: 4000, reason: '' });
    expect(growth).toBeLessThan(4 * MiB);
  });

  it('server role: 8 MiB of garbage behind the client\'s Close is ignored, the Close is answered', async () => {
    const closed: unknown[] = [];
    const server = await serve({ host: '127.0.0.1', onError: ignore }, async (wss) => {
      await wss.opened;
      closed.push(await wss.closed);
    });
    servers.push(server);
    const client = await openRaw(server);
    client.write(clientFrame(OP.close, Buffer.from([0x0f, 0xa1])));
    client.write(Buffer.alloc(8 * MiB, 0xff));
    const reply = await client.readFrame(WAIT);
    expect(reply.opcode).toBe(OP.close);
    expect(reply.payload.readUInt16BE(0)).toBe(4001);
    client.socket.end();
    await until(() => closed.length === 1, 'closed');
    expect(closed[0]).toEqual({ closeCode: 4001, reason: '' });
  });
});

describe('keepalive and a peer that pings without reading', () => {
  it('once its flood is read, a peer that never answers our pings is dropped', async () => {
    const ended: unknown[] = [];
    const server = await serve({ host: '127.0.0.1', keepaliveInterval: 300, keepaliveTimeout: 600, onError: ignore }, async (wss) => {
      const { readable } = await wss.opened;
      wss.closed.then(() => ended.push('closed'), (error: unknown) => ended.push(error));
      for await (const _ of readable) { /* reads everything */ }
    });
    servers.push(server);
    const client = await openRaw(server);
    client.socket.pause();
    client.write(pingFlood(PINGS, (opcode, payload) => clientFrame(opcode, payload)));
    await until(() => ended.length === 1, 'the keepalive to drop the connection', 8000);
    expect(ended[0]).not.toBe('closed');
  });
});

describe('after a failure, nothing received is kept', () => {
  it('server role: 24 MiB of an unfinished message are let go when the peer breaks the protocol', async () => {
    const server = await serve({ host: '127.0.0.1', onError: ignore }, async (wss) => {
      const { readable } = await wss.opened;
      for await (const _ of readable) { /* reads everything */ }
    });
    servers.push(server);
    const client = await openRaw(server);
    const fragments = Array.from({ length: 24 }, (_, i) => clientFrame(i === 0 ? OP.binary : OP.cont, Buffer.alloc(MiB, 0x42), { fin: false }));
    const violation = clientFrame(OP.text, 'a new message inside a fragmented one');
    const baseline = retainedBytes();
    for (const fragment of fragments) client.write(fragment);
    client.write(violation);
    const reply = await client.readFrame(WAIT);
    expect(reply.opcode).toBe(OP.close);
    expect(reply.payload.readUInt16BE(0)).toBe(1002);
    // The client keeps TCP open: the server waits for it (closeTimeout) holding nothing it read.
    const growth = retainedBytes() - baseline;
    expect(growth).toBeLessThan(8 * MiB);
  });
});
