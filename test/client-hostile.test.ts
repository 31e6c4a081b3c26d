// Our client against a hostile raw TCP server (test/helpers/raw-server.ts): broken handshakes,
// frames that break RFC 6455, and legal but awkward byte streams. Each case checks both ends: what
// the application sees (opened, closed, the readable) and the exact bytes the client sent back.
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketError, WebSocketStream, type WebSocketStreamOptions } from '../src/index.js';
import { delay, rejectionOf, withTimeout } from './helpers/timing.js';
import {
  acceptFor,
  closeBody,
  frame,
  startRawServer,
  type ClientFrame,
  type RawConnection,
  type RawServer,
} from './helpers/raw-server.js';

const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
/** Upper bound for any single wait in these tests; far below vitest's test timeout. */
const WAIT = 4000;

let servers: RawServer[] = [];
let clients: WebSocketStream[] = [];

afterEach(async () => {
  for (const client of clients) client.close();
  clients = [];
  const closing = servers;
  servers = [];
  await Promise.all(closing.map((server) => server.close()));
});

async function serve(
  onConnection: (conn: RawConnection) => void | Promise<void>,
  onRawSocket?: (socket: Socket) => boolean,
): Promise<RawServer> {
  const server = await startRawServer(onConnection, onRawSocket);
  servers.push(server);
  return server;
}

function connect(server: RawServer, options?: WebSocketStreamOptions): WebSocketStream {
  const ws = new WebSocketStream(server.url, options);
  clients.push(ws);
  return ws;
}

function expectWebSocketError(error: unknown, message: RegExp, closeCode?: number | null): WebSocketError {
  expect(error).toBeInstanceOf(WebSocketError);
  expect(error).toBeInstanceOf(DOMException);
  const wsError = error as WebSocketError;
  expect(wsError.name).toBe('WebSocketError');
  expect(wsError.message).toMatch(message);
  if (closeCode !== undefined) expect(wsError.closeCode).toBe(closeCode);
  return wsError;
}

function expectMaskedClose(reply: ClientFrame): { code: number | null; reason: Buffer } {
  expect(reply.opcode).toBe(OP.close);
  expect(reply.fin).toBe(true);
  expect(reply.rsv).toBe(0);
  expect(reply.masked).toBe(true);
  if (reply.payload.length === 0) return { code: null, reason: Buffer.alloc(0) };
  expect(reply.payload.length).toBeGreaterThanOrEqual(2);
  expect(reply.payload.length).toBeLessThanOrEqual(125);
  return { code: reply.payload.readUInt16BE(0), reason: reply.payload.subarray(2) };
}

// ---------------------------------------------------------------------------------------------
// Opening handshake
// ---------------------------------------------------------------------------------------------

/** Connects, lets `respond` answer, and checks opened/closed reject as a handshake failure. */
async function expectHandshakeFailure(
  respond: (conn: RawConnection) => void | Promise<void>,
  message: RegExp,
  options?: WebSocketStreamOptions,
  onRawSocket?: (socket: Socket) => boolean,
): Promise<void> {
  const server = await serve(respond, onRawSocket);
  const ws = connect(server, options);
  const openedError = await rejectionOf(ws.opened, WAIT, 'opened');
  const closedError = await rejectionOf(ws.closed, WAIT, 'closed');
  expectWebSocketError(openedError, message);
  expectWebSocketError(closedError, message, 1006);
  // Programs tell failures apart by the stable code underneath, not by the message.
  expect((closedError as { cause?: { code?: unknown } }).cause?.code).toMatch(/^ERR_WS_/);
}

const acceptLine = (conn: RawConnection): string => `Sec-WebSocket-Accept: ${acceptFor(conn.key)}`;

describe('hostile server: opening handshake', () => {
  it('sends a well-formed upgrade request (sanity check of the raw server)', async () => {
    const server = await serve((conn) => conn.acceptHandshake({ headers: ['Sec-WebSocket-Protocol: chat'] }));
    const ws = connect(server, { protocols: ['chat', 'superchat'] });
    const { protocol, extensions } = await withTimeout(ws.opened, WAIT, 'opened');
    expect(protocol).toBe('chat');
    expect(extensions).toBe('');
    const conn = await server.nextConnection();
    expect(conn.request.method).toBe('GET');
    expect(conn.request.path).toBe('/hostile');
    expect(conn.request.headers['upgrade']?.toLowerCase()).toBe('websocket');
    expect(conn.request.headers['connection']?.toLowerCase()).toContain('upgrade');
    expect(conn.request.headers['sec-websocket-version']).toBe('13');
    expect(Buffer.from(conn.key, 'base64')).toHaveLength(16);
    expect(conn.request.headers['sec-websocket-protocol']).toBe('chat, superchat');
  });

  it.each([
    ['HTTP/1.1 404 Not Found', /404/],
    ['HTTP/1.1 500 Internal Server Error', /500/],
    ['HTTP/1.1 200 OK', /200/],
    ['HTTP/1.1 302 Found', /302 Found \(redirects are not followed\)/],
  ])('a %s answer rejects opened and closed', async (statusLine, message) => {
    await expectHandshakeFailure(
      (conn) => conn.respond(statusLine, ['Content-Length: 4', 'Location: ws://127.0.0.1:1/elsewhere', 'Connection: close'], 'nope'),
      message,
    );
  });

  it('accepts header values in any case and a Connection list that contains "upgrade"', async () => {
    const server = await serve((conn) => conn.respond('HTTP/1.1 101 Switching Protocols', [
      'UPGRADE: WebSocket',
      'connection: keep-alive, Upgrade',
      `sec-websocket-accept: ${acceptFor(conn.key)}`,
    ]));
    const ws = connect(server);
    expect(await withTimeout(ws.opened, WAIT, 'opened')).toMatchObject({ protocol: '', extensions: '' });
  });

  it('a wrong Sec-WebSocket-Accept fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.acceptHandshake({ accept: acceptFor('dGhlIHNhbXBsZSBub25jZQ==') }),
      /Sec-WebSocket-Accept/,
    );
  });

  it('a missing Sec-WebSocket-Accept fails the handshake', async () => {
    await expectHandshakeFailure((conn) => conn.acceptHandshake({ accept: null }), /Sec-WebSocket-Accept/);
  });

  it('a 101 without an Upgrade header fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.respond('HTTP/1.1 101 Switching Protocols', ['Connection: Upgrade', acceptLine(conn)]),
      /Upgrade header/,
    );
  });

  it('a 101 upgrading to another protocol fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.respond('HTTP/1.1 101 Switching Protocols', ['Upgrade: h2c', 'Connection: Upgrade', acceptLine(conn)]),
      /Upgrade header.*h2c/,
    );
  });

  it('a 101 whose Connection header lacks "upgrade" fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.respond('HTTP/1.1 101 Switching Protocols', ['Upgrade: websocket', 'Connection: keep-alive', acceptLine(conn)]),
      /Connection header/,
    );
  });

  it('a 101 without a Connection header fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.respond('HTTP/1.1 101 Switching Protocols', ['Upgrade: websocket', acceptLine(conn)]),
      /Connection header/,
    );
  });

  it('a subprotocol the client did not offer fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.acceptHandshake({ headers: ['Sec-WebSocket-Protocol: superchat'] }),
      /subprotocol "superchat".*not offered/,
      { protocols: ['chat'] },
    );
  });

  it('a list of subprotocols instead of one selection fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.acceptHandshake({ headers: ['Sec-WebSocket-Protocol: chat, superchat'] }),
      /subprotocol "chat, superchat".*not offered/,
      { protocols: ['chat', 'superchat'] },
    );
  });

  it('a subprotocol when the client offered none fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.acceptHandshake({ headers: ['Sec-WebSocket-Protocol: chat'] }),
      /subprotocol "chat".*none was offered/,
    );
  });

  it('an extension the client did not offer fails the handshake', async () => {
    await expectHandshakeFailure(
      (conn) => conn.acceptHandshake({ headers: ['Sec-WebSocket-Extensions: permessage-deflate'] }),
      /extension.*permessage-deflate/,
      { perMessageDeflate: false },
    );
    await expectHandshakeFailure(
      (conn) => conn.acceptHandshake({ headers: ['Sec-WebSocket-Extensions: x-webkit-deflate-frame'] }),
      /extension that was not offered: x-webkit-deflate-frame/,
    );
  });

  it('a server that accepts TCP and never answers hits handshakeTimeout', async () => {
    const started = Date.now();
    await expectHandshakeFailure(() => {}, /timed out after 150 ms/, { handshakeTimeout: 150 }, () => true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a server that reads the request and says nothing hits handshakeTimeout', async () => {
    await expectHandshakeFailure(() => {}, /timed out after 150 ms/, { handshakeTimeout: 150 });
  });

  it('a server that closes TCP before answering fails the handshake', async () => {
    await expectHandshakeFailure((conn) => void conn.socket.end(), /Connection failed: socket hang up/);
  });

  it('a server that closes TCP in the middle of the status line fails the handshake', async () => {
    await expectHandshakeFailure(async (conn) => {
      await conn.write('HTTP/1.1 101 Swit');
      conn.socket.end();
    }, /Connection failed/);
  });

  it('a server that closes TCP in the middle of the headers fails the handshake', async () => {
    await expectHandshakeFailure(async (conn) => {
      await conn.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${acceptLine(conn)}\r\n`);
      conn.socket.end();
    }, /Connection failed/);
  });

  it('a server that resets TCP in the middle of the headers fails the handshake', async () => {
    await expectHandshakeFailure(async (conn) => {
      await conn.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs');
      await delay(20);
      conn.socket.resetAndDestroy();
    }, /Connection failed/);
  });
});

// ---------------------------------------------------------------------------------------------
// Protocol violations after a good handshake: a few per rule family, end to end. Every rule, in
// any segmentation, is a row of test/protocol/connection.test.ts.
// ---------------------------------------------------------------------------------------------

interface Violation {
  /** Bytes the server sends after its 101, one TCP write each. */
  writes: Buffer[];
  /** The close code the client must send back. */
  code: number;
  /** What the error message must name. */
  message: RegExp;
  options?: WebSocketStreamOptions;
  /** Good messages that arrive before the violation and must be read first. */
  before?: Array<string | Uint8Array>;
  /** Send the first write in the same TCP segment as the 101 answer. */
  withHandshake?: boolean;
  /** Extra header lines of the 101 (e.g. an agreed permessage-deflate). */
  handshakeHeaders?: string[];
  /** Payloads of the pings sent before the violation: the client answers them before its Close. */
  pongs?: string[];
}

async function expectViolation(v: Violation): Promise<void> {
  const server = await serve(async (conn) => {
    const [first, ...rest] = v.writes;
    const headers = v.handshakeHeaders ?? [];
    if (v.withHandshake && first) {
      await conn.acceptHandshake({ extra: first, headers });
    } else {
      await conn.acceptHandshake({ headers });
      if (first) await conn.write(first);
    }
    for (const bytes of rest) await conn.write(bytes);
  });
  const ws = connect(server, v.options);
  const { readable, writable } = await withTimeout(ws.opened, WAIT, 'opened');
  const conn = await server.nextConnection();
  const reader = readable.getReader();
  const writer = writable.getWriter();

  for (const expected of v.before ?? []) {
    const { value, done } = await withTimeout(reader.read(), WAIT, 'read() of a good message');
    expect(done).toBe(false);
    expect(value).toEqual(expected);
  }

  // Application side: closed and the readable fail with one and the same WebSocketError.
  const readError = await rejectionOf(reader.read(), WAIT, 'read() after the violation');
  const closedError = await rejectionOf(ws.closed, WAIT, 'closed');
  expect(readError).toBe(closedError);
  const error = expectWebSocketError(closedError, v.message, 1006);
  expect(error.message).toContain(`close code ${v.code}`);
  // The violation underneath: its stable code, and the close code it maps to.
  expect(error.cause).toMatchObject({ code: expect.stringMatching(/^ERR_WS_/), closeCode: v.code });
  expect(await rejectionOf(writer.closed, WAIT, 'writer.closed')).toBe(closedError);

  // Wire side: the pongs owed, exactly one masked Close frame with the code, then the client leaves TCP.
  for (const payload of v.pongs ?? []) {
    const pong = await conn.readFrame();
    expect(pong.opcode).toBe(OP.pong);
    expect(pong.masked).toBe(true);
    expect(pong.payload.toString()).toBe(payload);
  }
  const reply = await conn.readFrame();
  const { code, reason } = expectMaskedClose(reply);
  expect(code).toBe(v.code);
  expect(isUtf8(reason)).toBe(true);
  expect(reason.length).toBeLessThanOrEqual(123);
  await conn.waitForEnd();
  expect(conn.pending.length).toBe(0);
}

const text = (payload: string | Buffer, spec?: Parameters<typeof frame>[2]): Buffer => frame(OP.text, payload, spec);
const bytes = (...values: number[]): Buffer => Buffer.from(values);

describe('hostile server: protocol violations fail the connection', () => {
  it('a masked server frame -> 1002', async () => {
    await expectViolation({ writes: [text('hi', { mask: bytes(1, 2, 3, 4) })], code: 1002, message: /Masked frame/ });
  });

  it('a masked server frame in the same TCP segment as the 101 -> 1002', async () => {
    await expectViolation({
      writes: [text('hi', { mask: bytes(1, 2, 3, 4) })],
      withHandshake: true,
      code: 1002,
      message: /Masked frame/,
    });
  });

  it('a ping without FIN (fragmented control frame) -> 1002', async () => {
    await expectViolation({ writes: [frame(OP.ping, 'x', { fin: false })], code: 1002, message: /Fragmented control frame/ });
  });

  it('a ping with a 126-byte payload -> 1002', async () => {
    await expectViolation({
      writes: [frame(OP.ping, Buffer.alloc(126, 0x61))],
      code: 1002,
      message: /Control frame payload longer than 125/,
    });
  });

  it('a continuation frame without a message to continue -> 1002', async () => {
    await expectViolation({ writes: [frame(OP.cont, 'x')], code: 1002, message: /Continuation frame without/ });
  });

  it('a new binary frame while a fragmented text message is in progress -> 1002', async () => {
    await expectViolation({
      writes: [Buffer.concat([text('par', { fin: false }), frame(OP.ping, 'p'), frame(OP.binary, bytes(1), { fin: false })])],
      pongs: ['p'],
      code: 1002,
      message: /New data frame before the fragmented message ended/,
    });
  });

  it('invalid UTF-8 split across fragments -> 1007', async () => {
    // Each fragment alone could be a valid prefix/suffix; together: E2 82 followed by 0x28 is invalid.
    await expectViolation({
      writes: [text(bytes(0x61, 0xe2), { fin: false }), frame(OP.cont, bytes(0x82), { fin: false }), frame(OP.cont, bytes(0x28))],
      code: 1007,
      message: /not valid UTF-8/,
    });
  });

  it('invalid UTF-8 in a text message after a good one -> 1007', async () => {
    await expectViolation({
      writes: [Buffer.concat([text('first'), text(bytes(0xff))])],
      before: ['first'],
      code: 1007,
      message: /not valid UTF-8/,
    });
  });

  it('invalid UTF-8 in a close reason -> 1007', async () => {
    await expectViolation({
      writes: [frame(OP.close, closeBody(1000, bytes(0x6f, 0x6b, 0xff)))],
      code: 1007,
      message: /Close reason is not valid UTF-8/,
    });
  });

  it('a 1-byte close body -> 1002', async () => {
    await expectViolation({ writes: [frame(OP.close, bytes(0x03))], code: 1002, message: /1-byte body/ });
  });

  it('a 64-bit length with the most significant bit set -> 1002', async () => {
    await expectViolation({
      writes: [bytes(0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0x01)],
      code: 1002,
      message: /most significant bit/,
    });
  });

  it('a huge (2^40) 64-bit length with the top bit clear -> 1009, before any payload', async () => {
    await expectViolation({
      writes: [bytes(0x82, 0x7f, 0, 0, 0x01, 0, 0, 0, 0, 0)],
      code: 1009,
      message: /larger than the 67108864-byte limit/,
    });
  });

  it('a text frame over maxPayload announced by its header alone -> 1009', async () => {
    // Only the header is sent: the limit must be enforced before buffering the payload.
    await expectViolation({
      writes: [text('x'.repeat(1000)).subarray(0, 4)],
      options: { maxPayload: 16 },
      code: 1009,
      message: /larger than the 16-byte limit/,
    });
  });

  it('fragments whose sum exceeds maxPayload -> 1009', async () => {
    await expectViolation({
      writes: [frame(OP.binary, Buffer.alloc(10, 1), { fin: false }), frame(OP.ping, 'p'), frame(OP.cont, Buffer.alloc(7, 2))],
      pongs: ['p'],
      options: { maxPayload: 16 },
      code: 1009,
      message: /larger than the 16-byte limit/,
    });
  });

  it('frames after the violation are ignored: a protocol error followed by a good message', async () => {
    await expectViolation({
      writes: [Buffer.concat([frame(0x3, 'x'), text('never delivered'), frame(OP.ping, 'never answered')])],
      code: 1002,
      message: /Unknown opcode 0x3/,
    });
  });
});

describe('hostile server: truncated streams', () => {
  it.each([
    ['in the payload', text('hello world').subarray(0, 5)],
    ['in the 16-bit extended length', text('x'.repeat(300)).subarray(0, 3)],
    ['after one header byte', bytes(0x81)],
  ])('a TCP reset %s -> closed rejects with 1006, no Close frame', async (_name, partial) => {
    const server = await serve(async (conn) => {
      await conn.acceptHandshake();
      await conn.write(partial);
      await delay(30);
      conn.socket.resetAndDestroy();
    });
    const ws = connect(server);
    const { readable, writable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    const reader = readable.getReader();
    const readError = await rejectionOf(reader.read(), WAIT, 'read()');
    const closedError = await rejectionOf(ws.closed, WAIT, 'closed');
    expect(readError).toBe(closedError);
    expectWebSocketError(closedError, /ECONNRESET/, 1006);
    expect(await rejectionOf(writable.getWriter().closed, WAIT, 'writer.closed')).toBe(closedError);
    // The client had nothing to say before the reset: no Close frame, no bytes at all.
    expect(conn.pending.length).toBe(0);
  });

  it('a TCP FIN in the middle of a frame -> closed rejects with 1006, the client sends no Close', async () => {
    const server = await serve(async (conn) => {
      await conn.acceptHandshake();
      await conn.write(text('hello world').subarray(0, 5));
      await delay(30);
      conn.socket.end();
    });
    const ws = connect(server);
    const { readable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    const reader = readable.getReader();
    const readError = await rejectionOf(reader.read(), WAIT, 'read()');
    const closedError = await rejectionOf(ws.closed, WAIT, 'closed');
    expect(readError).toBe(closedError);
    expectWebSocketError(closedError, /without a closing handshake/, 1006);
    await conn.closed;
    expect(conn.pending.length).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Legal but awkward byte streams
// ---------------------------------------------------------------------------------------------

/** Ends a good-path connection cleanly from the server side and checks `closed`. */
async function serverCloses(ws: WebSocketStream, conn: RawConnection, code: number, reason: string): Promise<void> {
  await conn.write(frame(OP.close, closeBody(code, reason)));
  const reply = expectMaskedClose(await conn.readFrame());
  expect(reply.code).toBe(code);
  await conn.waitForEnd();
  conn.socket.end();
  expect(await withTimeout(ws.closed, WAIT, 'closed')).toEqual({ closeCode: code, reason });
}

describe('hostile server: legal byte streams', () => {
  it('reassembles fragmented text and binary messages with pings between the fragments, and pongs each ping', async () => {
    const bigPing = Buffer.alloc(125);
    for (let i = 0; i < bigPing.length; i++) bigPing[i] = (i * 31) & 0xff;
    const server = await serve(async (conn) => {
      await conn.acceptHandshake();
      await conn.write(text('Hel', { fin: false }));
      await conn.write(frame(OP.ping, 'p1'));
      await conn.write(frame(OP.cont, 'lo, w', { fin: false }));
      await conn.write(frame(OP.ping));
      // "ö" (C3 B6) split across two fragments.
      await conn.write(frame(OP.cont, bytes(0xc3), { fin: false }));
      await conn.write(frame(OP.cont, Buffer.from([0xb6, ...Buffer.from('rld', 'utf8')])));
      await conn.write(frame(OP.binary, bytes(1, 2, 3), { fin: false }));
      await conn.write(frame(OP.ping, bigPing));
      await conn.write(frame(OP.cont, bytes(4), { fin: false }));
      await conn.write(frame(OP.pong, 'unsolicited'));
      await conn.write(frame(OP.cont, bytes(5)));
    });
    const ws = connect(server);
    const { readable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    const reader = readable.getReader();

    const first = await withTimeout(reader.read(), WAIT, 'read() 1');
    expect(first).toEqual({ done: false, value: 'Hello, w\u00f6rld' });
    const second = await withTimeout(reader.read(), WAIT, 'read() 2');
    expect(second.done).toBe(false);
    const data = second.value as Uint8Array;
    expect(data).toBeInstanceOf(Uint8Array);
    expect([...data]).toEqual([1, 2, 3, 4, 5]);
    expect(data.buffer.byteLength).toBe(5);

    const expectedPongs = [Buffer.from('p1'), Buffer.alloc(0), bigPing];
    const masks: string[] = [];
    for (const expected of expectedPongs) {
      const pong = await conn.readFrame();
      expect(pong.opcode).toBe(OP.pong);
      expect(pong.fin).toBe(true);
      expect(pong.masked).toBe(true);
      expect(pong.payload.equals(expected)).toBe(true);
      masks.push(pong.mask!.toString('hex'));
    }
    expect(new Set(masks).size).toBe(masks.length);
    expect(conn.pending.length).toBe(0); // nothing answered the unsolicited pong

    await serverCloses(ws, conn, 1000, '');
    expect(await withTimeout(reader.read(), WAIT, 'read() at the end')).toEqual({ done: true, value: undefined });
  });

  it('reads a text message and a Close split at every byte boundary across separate TCP writes', async () => {
    // 16-bit length form and multi-byte characters, so the header and code points are split too.
    const message = 'h\u00e9llo \u20ac \u{1d11e} '.repeat(10) + 'end';
    const wire = Buffer.concat([text(message), frame(OP.close, closeBody(1000, 'ok \u00e9'))]);
    expect(wire[1]).toBe(126);
    const server = await serve(async (conn) => {
      await conn.acceptHandshake();
      for (let i = 0; i < wire.length; i++) {
        await conn.write(wire.subarray(i, i + 1));
        await delay(1);
      }
    });
    const ws = connect(server);
    const { readable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    const reader = readable.getReader();
    expect(await withTimeout(reader.read(), WAIT, 'read()')).toEqual({ done: false, value: message });
    const reply = expectMaskedClose(await conn.readFrame());
    expect(reply.code).toBe(1000);
    await conn.waitForEnd();
    conn.socket.end();
    expect(await withTimeout(ws.closed, WAIT, 'closed')).toEqual({ closeCode: 1000, reason: 'ok \u00e9' });
    expect(await withTimeout(reader.read(), WAIT, 'read() at the end')).toEqual({ done: true, value: undefined });
  });

  it('keeps frames that share a TCP segment with the 101, and several messages and a Close in one segment', async () => {
    const server = await serve((conn) => conn.acceptHandshake({
      extra: Buffer.concat([text('one'), frame(OP.binary, bytes(2)), text('three'), frame(OP.close, closeBody(1001, 'away'))]),
    }));
    const ws = connect(server);
    const { readable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    const reader = readable.getReader();
    // Let the client sit on its full queue for a while: nothing may be lost meanwhile.
    await delay(50);
    expect(await withTimeout(reader.read(), WAIT, 'read() 1')).toEqual({ done: false, value: 'one' });
    const second = await withTimeout(reader.read(), WAIT, 'read() 2');
    expect([...(second.value as Uint8Array)]).toEqual([2]);
    expect(await withTimeout(reader.read(), WAIT, 'read() 3')).toEqual({ done: false, value: 'three' });
    const reply = expectMaskedClose(await conn.readFrame());
    expect(reply.code).toBe(1001);
    await conn.waitForEnd();
    conn.socket.end();
    expect(await withTimeout(ws.closed, WAIT, 'closed')).toEqual({ closeCode: 1001, reason: 'away' });
    expect(await withTimeout(reader.read(), WAIT, 'read() at the end')).toEqual({ done: true, value: undefined });
  });

  it('delivers messages of exactly maxPayload, whole and fragmented', async () => {
    const server = await serve(async (conn) => {
      await conn.acceptHandshake();
      await conn.write(frame(OP.binary, Buffer.alloc(16, 9)));
      await conn.write(Buffer.concat([text('\u20ac'.repeat(3), { fin: false }), frame(OP.cont, '\u20ac'.repeat(2) + 'x')]));
    });
    const ws = connect(server, { maxPayload: 16 });
    const { readable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    const reader = readable.getReader();
    const first = await withTimeout(reader.read(), WAIT, 'read() 1');
    expect([...(first.value as Uint8Array)]).toEqual(new Array(16).fill(9));
    expect(await withTimeout(reader.read(), WAIT, 'read() 2')).toEqual({ done: false, value: '\u20ac'.repeat(5) + 'x' });
    await serverCloses(ws, conn, 1000, 'fine');
  });

  it('a server-initiated Close 4001 "bye": the client echoes 4001 and closed resolves', async () => {
    const server = await serve((conn) => conn.acceptHandshake());
    const ws = connect(server);
    const { readable, writable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    await conn.write(frame(OP.close, closeBody(4001, 'bye')));
    const reply = expectMaskedClose(await conn.readFrame());
    expect(reply.code).toBe(4001);
    await conn.waitForEnd();
    expect(conn.pending.length).toBe(0);
    conn.socket.end();
    expect(await withTimeout(ws.closed, WAIT, 'closed')).toEqual({ closeCode: 4001, reason: 'bye' });
    const reader = readable.getReader();
    expect(await withTimeout(reader.read(), WAIT, 'read()')).toEqual({ done: true, value: undefined });
    const writeError = await rejectionOf(writable.getWriter().write('late'), WAIT, 'write after close');
    expect(writeError).toBeInstanceOf(DOMException);
    expect((writeError as DOMException).name).toBe('InvalidStateError');
  });

  it('a Close without a body: the client answers without a body and closed resolves 1005', async () => {
    const server = await serve((conn) => conn.acceptHandshake());
    const ws = connect(server);
    await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    await conn.write(frame(OP.close));
    const reply = expectMaskedClose(await conn.readFrame());
    expect(reply.code).toBeNull();
    await conn.waitForEnd();
    conn.socket.end();
    expect(await withTimeout(ws.closed, WAIT, 'closed')).toEqual({ closeCode: 1005, reason: '' });
  });

  it('client frames are masked, each with its own key, and close() sends a masked Close', async () => {
    const server = await serve((conn) => conn.acceptHandshake());
    const ws = connect(server);
    const { writable } = await withTimeout(ws.opened, WAIT, 'opened');
    const conn = await server.nextConnection();
    const writer = writable.getWriter();
    const big = Buffer.alloc(70_000);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    await writer.write('first');
    await writer.write(new Uint8Array([1, 2, 3]));
    await writer.write('first');
    await writer.write(big);

    const frames: ClientFrame[] = [];
    for (let i = 0; i < 4; i++) frames.push(await conn.readFrame());
    expect(frames.map((f) => f.opcode)).toEqual([OP.text, OP.binary, OP.text, OP.binary]);
    for (const f of frames) {
      expect(f.fin).toBe(true);
      expect(f.rsv).toBe(0);
      expect(f.masked).toBe(true);
    }
    expect(frames[0]!.payload.toString()).toBe('first');
    expect([...frames[1]!.payload]).toEqual([1, 2, 3]);
    expect(frames[2]!.payload.toString()).toBe('first');
    expect(frames[3]!.payload.equals(big)).toBe(true);

    ws.close({ closeCode: 1000, reason: 'done' });
    const close = await conn.readFrame();
    const { code, reason } = expectMaskedClose(close);
    expect(code).toBe(1000);
    expect(reason.toString()).toBe('done');
    frames.push(close);

    const masks = frames.map((f) => f.mask!.toString('hex'));
    // Five random 32-bit keys: a repeat (or all zero) means the keys are not fresh per frame.
    expect(new Set(masks).size).toBe(masks.length);
    expect(masks).not.toContain('00000000');

    await conn.write(frame(OP.close, closeBody(1000, 'ack')));
    await conn.waitForEnd();
    conn.socket.end();
    expect(await withTimeout(ws.closed, WAIT, 'closed')).toEqual({ closeCode: 1000, reason: 'ack' });
  });
});

// ---------------------------------------------------------------------------------------------
// permessage-deflate (RFC 7692): the answer is checked strictly, RSV1 rules, bounded inflating
// ---------------------------------------------------------------------------------------------

const DEFLATE = ['Sec-WebSocket-Extensions: permessage-deflate'];

/** What a permessage-deflate sender puts on the wire: raw deflate, sync flush, tail removed. */
function compress(data: Buffer | string): Buffer {
  const out = deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

describe('permessage-deflate: the handshake', () => {
  it('offers "permessage-deflate; client_max_window_bits" by default, like Chrome, and reports the answer', async () => {
    const answer = 'permessage-deflate; server_max_window_bits=12';
    const server = await serve((conn) => conn.acceptHandshake({ headers: [`Sec-WebSocket-Extensions: ${answer}`] }));
    const ws = connect(server);
    expect((await withTimeout(ws.opened, WAIT, 'opened')).extensions).toBe(answer);
    const conn = await server.nextConnection();
    expect(conn.request.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
  });

  it('perMessageDeflate: false offers nothing; an object tunes the offer', async () => {
    const server = await serve((conn) => conn.acceptHandshake());
    await withTimeout(connect(server, { perMessageDeflate: false }).opened, WAIT, 'opened');
    expect((await server.nextConnection()).request.headers['sec-websocket-extensions']).toBeUndefined();
    await withTimeout(connect(server, {
      perMessageDeflate: { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
    }).opened, WAIT, 'opened');
    expect((await server.nextConnection()).request.headers['sec-websocket-extensions'])
      .toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11');
  });

  it.each([
    ['an unknown parameter', 'permessage-deflate; foo=1', /unknown permessage-deflate parameter foo/],
    ['a duplicate parameter', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover', /repeated the permessage-deflate parameter client_no_context_takeover/],
    ['an out-of-range window', 'permessage-deflate; server_max_window_bits=16', /server_max_window_bits=16; it must be an integer from 8 to 15/],
    ['a window of 8 for our compressor', 'permessage-deflate; client_max_window_bits=8', /window under 9 bits/],
    ['permessage-deflate twice', 'permessage-deflate, permessage-deflate', /more than once/],
    ['a malformed header', 'permessage-deflate; ;', /Invalid Sec-WebSocket-Extensions header/],
  ])('%s in the answer fails the handshake with a clear message', async (_what, answer, message) => {
    await expectHandshakeFailure((conn) => conn.acceptHandshake({ headers: [`Sec-WebSocket-Extensions: ${answer}`] }), message);
  });

  it('rejects bad options with a TypeError', () => {
    expect(() => new WebSocketStream('ws://127.0.0.1:1', { perMessageDeflate: { serverMaxWindowBits: 16 } })).toThrow(TypeError);
    expect(() => new WebSocketStream('ws://127.0.0.1:1', { perMessageDeflate: { clientMaxWindowBits: 8 } })).toThrow(/from 9 to 15/);
    expect(() => new WebSocketStream('ws://127.0.0.1:1', { perMessageDeflate: { level: 10 } })).toThrow(/level/);
    expect(() => new WebSocketStream('ws://127.0.0.1:1', { perMessageDeflate: 'yes' as unknown as boolean })).toThrow(TypeError);
  });
});

describe('permessage-deflate: receiving', () => {
  it('inflates single-frame and fragmented messages (RSV1 on the first frame only), control frames between', async () => {
    const text = 'hello, compressed world! '.repeat(100);
    const binary = Buffer.alloc(5000, 7);
    const packed = compress(binary);
    const server = await serve(async (conn) => {
      await conn.acceptHandshake({ headers: DEFLATE });
      await conn.write(Buffer.concat([
        frame(OP.text, compress(text), { rsv: 4 }),
        frame(OP.binary, packed.subarray(0, 3), { rsv: 4, fin: false }),
        frame(OP.ping, 'between'),
        frame(OP.cont, packed.subarray(3), {}),
        frame(OP.text, 'plain, uncompressed'),
        frame(OP.binary, Buffer.from([0]), { rsv: 4 }), // the empty message, compressed
      ]));
    });
    const ws = connect(server);
    const { readable } = await withTimeout(ws.opened, WAIT, 'opened');
    const reader = readable.getReader();
    expect((await withTimeout(reader.read(), WAIT, 'read')).value).toBe(text);
    const second = (await withTimeout(reader.read(), WAIT, 'read')).value as Uint8Array;
    expect(Buffer.from(second).equals(binary)).toBe(true);
    expect(second.buffer.byteLength).toBe(second.byteLength);
    expect((await withTimeout(reader.read(), WAIT, 'read')).value).toBe('plain, uncompressed');
    expect((await withTimeout(reader.read(), WAIT, 'read')).value).toEqual(new Uint8Array(0));
    const conn = await server.nextConnection();
    const pong = await conn.readFrame();
    expect(pong.opcode).toBe(OP.pong);
    expect(pong.payload.toString()).toBe('between');
  });

  it('RSV1 on a continuation frame -> 1002', async () => {
    await expectViolation({
      handshakeHeaders: DEFLATE,
      writes: [frame(OP.text, compress('ab'), { rsv: 4, fin: false }), frame(OP.cont, compress('cd'), { rsv: 4 })],
      code: 1002,
      message: /RSV1 set on a continuation frame/,
    });
  });

  it('corrupt compressed data -> 1007, after the good message before it', async () => {
    await expectViolation({
      handshakeHeaders: DEFLATE,
      writes: [frame(OP.text, compress('fine'), { rsv: 4 }), frame(OP.text, Buffer.from([0xff, 0xfe, 0xfd, 0x00]), { rsv: 4 })],
      before: ['fine'],
      code: 1007,
      message: /Invalid compressed data/,
    });
  });

  it('compressed text that inflates to invalid UTF-8 -> 1007', async () => {
    await expectViolation({
      handshakeHeaders: DEFLATE,
      writes: [frame(OP.text, compress(Buffer.from([0x61, 0xff, 0x62])), { rsv: 4 })],
      code: 1007,
      message: /not valid UTF-8/,
    });
  });

  it('a decompression bomb stops at maxPayload once inflated -> 1009', async () => {
    // 64 MiB of zeros deflate to about 64 KiB: far under the limit on the wire, far over it inflated.
    const bomb = compress(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(128 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    await expectViolation({
      handshakeHeaders: DEFLATE,
      options: { maxPayload: 1024 * 1024 },
      writes: [frame(OP.binary, bomb, { rsv: 4 })],
      code: 1009,
      message: /larger than the 1048576-byte limit \(maxPayload\) once inflated/,
    });
    // Inflating stopped near 1 MiB: nowhere near the 64 MiB the bomb holds.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('RSV1 without permessage-deflate agreed -> 1002 (the client offered it, the server did not accept)', async () => {
    await expectViolation({ writes: [frame(OP.text, compress('x'), { rsv: 4 })], code: 1002, message: /Reserved bits/ });
  });
});
