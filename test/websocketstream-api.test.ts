// The WebSocketStream API, point by point as /work/shared/spec-notes.md states it (Interface,
// Constructor, Reading, Writing, Closing), against a real `ws` server on 127.0.0.1.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { WebSocketError, WebSocketStream } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, NOT_SETTLED, rejectionOf, settledWithin, waitFor, withTimeout } from './helpers/timing.js';
import { serverClose, startWsPeer } from './helpers/ws-peer.js';
import { closedPort, startSilentServer } from './helpers/raw-server.js';
import { bundleLibrary, removeBundles, runNode } from './helpers/node-process.js';

afterEach(cleanup);

type Chunk = string | Uint8Array | ArrayBuffer;

/** Opens a stream and registers a cleanup that closes it. */
function connect(url: string | URL, options?: ConstructorParameters<typeof WebSocketStream>[1]): WebSocketStream {
  const stream = new WebSocketStream(url, options);
  onCleanup(() => {
    try {
      stream.close();
    } catch {
      // already failed
    }
  });
  return stream;
}

function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}

/** Messages the server receives, as [payload, isBinary]. */
function collect(ws: WebSocket): Array<{ data: Buffer; isBinary: boolean }> {
  const received: Array<{ data: Buffer; isBinary: boolean }> = [];
  ws.on('message', (data, isBinary) => received.push({ data: data as Buffer, isBinary }));
  return received;
}

function expectDOMException(error: unknown, name: string): void {
  expect(error).toBeInstanceOf(DOMException);
  expect((error as DOMException).name).toBe(name);
}

function expectWebSocketError(error: unknown, closeCode: number | null): WebSocketError {
  expect(error).toBeInstanceOf(WebSocketError);
  expect((error as WebSocketError).name).toBe('WebSocketError');
  expect((error as WebSocketError).closeCode).toBe(closeCode);
  return error as WebSocketError;
}

async function read(reader: ReadableStreamDefaultReader<Chunk>, what = 'a message'): ReturnType<ReadableStreamDefaultReader<Chunk>["read"]> {
  return withTimeout(reader.read(), 5_000, what);
}

/** Options that open no connection at all: for tests of synchronous checks only. */
const noConnection = (): { signal: AbortSignal } => ({ signal: AbortSignal.abort() });

describe('Interface', () => {
  it('has url, opened, closed and close()', () => {
    const stream = new WebSocketStream('ws://127.0.0.1:1/', noConnection());
    expect(typeof stream.url).toBe('string');
    expect(stream.opened).toBeInstanceOf(Promise);
    expect(stream.closed).toBeInstanceOf(Promise);
    expect(typeof stream.close).toBe('function');
    expect(stream.opened).toBe(stream.opened); // the same promise every time
    expect(stream.closed).toBe(stream.closed);
  });

  it('opened resolves to { readable, writable, protocol, extensions }', async () => {
    const server = await startWsPeer();
    const stream = connect(server.url);
    const info = await withTimeout(stream.opened, 5_000, 'opened');
    expect(Object.keys(info).sort()).toEqual(['extensions', 'protocol', 'readable', 'writable']);
    expect(info.readable).toBeInstanceOf(ReadableStream);
    expect(info.writable).toBeInstanceOf(WritableStream);
    expect(info.protocol).toBe('');
    expect(info.extensions).toBe('');
  });

  it('closed resolves to { closeCode, reason }', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.close(4100, 'done'));
    const stream = connect(server.url);
    const info = await withTimeout(stream.closed, 5_000, 'closed');
    expect(Object.keys(info).sort()).toEqual(['closeCode', 'reason']);
    expect(info).toEqual({ closeCode: 4100, reason: 'done' });
  });
});

describe('WebSocketError', () => {
  it('has the defaults: empty message, closeCode null, empty reason', () => {
    const error = new WebSocketError();
    expect(error.message).toBe('');
    expect(error.name).toBe('WebSocketError');
    expect(error.closeCode).toBeNull();
    expect(error.reason).toBe('');
  });

  it('is a DOMException (and an Error) named WebSocketError', () => {
    const error = new WebSocketError('boom', { closeCode: 4000, reason: 'why' });
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toBeInstanceOf(DOMException);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('WebSocketError');
    expect(error.message).toBe('boom');
    expect(error.closeCode).toBe(4000);
    expect(error.reason).toBe('why');
    expect(Object.prototype.toString.call(error)).toBe('[object WebSocketError]');
  });

  it('takes closeCode 1000 when only a reason is given', () => {
    expect(new WebSocketError('', { reason: 'bye' }).closeCode).toBe(1000);
    expect(new WebSocketError('', { closeCode: 1000 }).closeCode).toBe(1000);
    expect(new WebSocketError('', { closeCode: 4999 }).closeCode).toBe(4999);
  });

  it('throws InvalidAccessError for a code other than 1000 or 3000-4999', () => {
    for (const closeCode of [0, 999, 1001, 1005, 1006, 2999, 5000, 65535]) {
      let error: unknown;
      try {
        new WebSocketError('', { closeCode });
      } catch (e) {
        error = e;
      }
      expectDOMException(error, 'InvalidAccessError');
    }
  });

  it('throws TypeError for a code outside unsigned short ([EnforceRange])', () => {
    expect(() => new WebSocketError('', { closeCode: 70000 })).toThrow(TypeError);
    expect(() => new WebSocketError('', { closeCode: -1 })).toThrow(TypeError);
    expect(() => new WebSocketError('', { closeCode: Number.NaN })).toThrow(TypeError);
  });

  it('throws SyntaxError for a reason longer than 123 UTF-8 bytes', () => {
    expect(new WebSocketError('', { reason: 'a'.repeat(123) }).reason).toHaveLength(123);
    expect(new WebSocketError('', { reason: '\u20ac'.repeat(41) }).closeCode).toBe(1000); // 123 bytes
    for (const reason of ['a'.repeat(124), '\u00e9'.repeat(62) /* 124 bytes, 62 characters */]) {
      let error: unknown;
      try {
        new WebSocketError('', { reason });
      } catch (e) {
        error = e;
      }
      expectDOMException(error, 'SyntaxError');
    }
  });
});

describe('Constructor: URL', () => {
  it('rejects a relative URL with a SyntaxError DOMException', () => {
    for (const url of ['/chat', 'chat', '//127.0.0.1/chat', '']) {
      expect(() => new WebSocketStream(url, noConnection()), url).toThrow(DOMException);
      try {
        new WebSocketStream(url, noConnection());
      } catch (error) {
        expectDOMException(error, 'SyntaxError');
      }
    }
  });

  it('maps http: to ws: and https: to wss:, visible in .url', () => {
    expect(new WebSocketStream('http://127.0.0.1:8080/chat?x=1', noConnection()).url).toBe('ws://127.0.0.1:8080/chat?x=1');
    expect(new WebSocketStream('https://example.com/chat', noConnection()).url).toBe('wss://example.com/chat');
    expect(new WebSocketStream('HTTP://Example.COM:80', noConnection()).url).toBe('ws://example.com/');
    expect(new WebSocketStream('https://example.com:443/', noConnection()).url).toBe('wss://example.com/');
  });

  it('returns the serialized URL for ws: and wss:, and accepts a URL object', () => {
    expect(new WebSocketStream('ws://127.0.0.1:1', noConnection()).url).toBe('ws://127.0.0.1:1/');
    expect(new WebSocketStream('wss://EXAMPLE.com/a b', noConnection()).url).toBe('wss://example.com/a%20b');
    expect(new WebSocketStream(new URL('ws://127.0.0.1:1/path'), noConnection()).url).toBe('ws://127.0.0.1:1/path');
  });

  it('rejects other schemes with a SyntaxError', () => {
    for (const url of ['ftp://127.0.0.1/', 'file:///tmp/x', 'mailto:a@b.c', 'javascript:alert(1)', 'data:,x']) {
      try {
        new WebSocketStream(url, noConnection());
        expect.unreachable(`${url} was accepted`);
      } catch (error) {
        expectDOMException(error, 'SyntaxError');
      }
    }
  });

  it('rejects a fragment, even a bare "#", with a SyntaxError', () => {
    for (const url of ['ws://127.0.0.1:1/#frag', 'ws://127.0.0.1:1/#', 'http://127.0.0.1:1/path?q#', 'wss://example.com#x']) {
      try {
        new WebSocketStream(url, noConnection());
        expect.unreachable(`${url} was accepted`);
      } catch (error) {
        expectDOMException(error, 'SyntaxError');
      }
    }
  });
});

describe('Constructor: options', () => {
  it('rejects a subprotocol that is not an HTTP token with a SyntaxError', () => {
    for (const protocol of ['', 'a b', 'a,b', 'caf\u00e9', 'a/b', '(x)', 'x\ty']) {
      try {
        new WebSocketStream('ws://127.0.0.1:1', { ...noConnection(), protocols: [protocol] });
        expect.unreachable(`${JSON.stringify(protocol)} was accepted`);
      } catch (error) {
        expectDOMException(error, 'SyntaxError');
      }
    }
  });

  it('rejects duplicate subprotocols, compared case-insensitively, with a SyntaxError', () => {
    for (const protocols of [['chat', 'chat'], ['chat', 'CHAT'], ['a', 'b', 'A']]) {
      try {
        new WebSocketStream('ws://127.0.0.1:1', { ...noConnection(), protocols });
        expect.unreachable(`${JSON.stringify(protocols)} was accepted`);
      } catch (error) {
        expectDOMException(error, 'SyntaxError');
      }
    }
  });

  it('throws TypeError for wrong argument types', () => {
    const url = 'ws://127.0.0.1:1';
    const make = (options: unknown) => () => new WebSocketStream(url, options as never);
    expect(make(true)).toThrow(TypeError);
    expect(make(42)).toThrow(TypeError);
    expect(make('chat')).toThrow(TypeError);
    expect(make({ ...noConnection(), protocols: 'x' })).toThrow(TypeError);
    expect(make({ ...noConnection(), protocols: 42 })).toThrow(TypeError);
    expect(make({ signal: 'not a signal' })).toThrow(TypeError);
    // null, undefined and {} are the empty dictionary
    expect(make({ ...noConnection() })).not.toThrow();
    expect(() => new WebSocketStream(url, null as never).close()).not.toThrow();
  });

  it('accepts any iterable of strings as protocols', () => {
    const stream = new WebSocketStream('ws://127.0.0.1:1', { ...noConnection(), protocols: new Set(['a', 'b']) as never });
    expect(stream.url).toBe('ws://127.0.0.1:1/');
  });
});

describe('Constructor: signal', () => {
  it('an already aborted signal rejects opened and closed with signal.reason and opens no connection', async () => {
    const server = await startWsPeer();
    const reason = new Error('aborted before start');
    const stream = new WebSocketStream(server.url, { signal: AbortSignal.abort(reason) });
    expect(await rejectionOf(stream.opened)).toBe(reason);
    expect(await rejectionOf(stream.closed)).toBe(reason);
    await delay(200);
    expect(server.tcpConnections).toBe(0);
  });

  it('an already aborted signal with the default reason rejects with that AbortError', async () => {
    const server = await startWsPeer();
    const signal = AbortSignal.abort();
    const stream = new WebSocketStream(server.url, { signal });
    const error = await rejectionOf(stream.opened);
    expect(error).toBe(signal.reason);
    expectDOMException(error, 'AbortError');
    expect(await rejectionOf(stream.closed)).toBe(signal.reason);
    await delay(100);
    expect(server.tcpConnections).toBe(0);
  });

  it('aborting during the handshake rejects both promises with signal.reason and drops the connection', async () => {
    const silent = await startSilentServer(); // accepts TCP, never answers the upgrade request
    const controller = new AbortController();
    const stream = connect(silent.url, { signal: controller.signal });
    await waitFor(() => silent.connections.length === 1, 5_000, 'the TCP connection');
    const reason = new Error('user gave up');
    controller.abort(reason);
    expect(await rejectionOf(stream.opened)).toBe(reason);
    expect(await rejectionOf(stream.closed)).toBe(reason);
    const serverSide = silent.connections[0]!;
    if (!serverSide.destroyed) await withTimeout(once(serverSide, 'close'), 5_000, 'the server socket to close');
  });

  it('aborting while a ws server delays its answer rejects both with signal.reason', async () => {
    const server = await startWsPeer({
      verifyClient: (_info, callback) => {
        setTimeout(() => callback(true), 300).unref();
      },
    });
    const controller = new AbortController();
    const stream = connect(server.url, { signal: controller.signal });
    await waitFor(() => server.tcpConnections === 1, 5_000, 'the TCP connection');
    controller.abort('stop');
    expect(await rejectionOf(stream.opened)).toBe('stop');
    expect(await rejectionOf(stream.closed)).toBe('stop');
    // Whatever the server does later, the stream stays failed.
    await delay(400);
    expect(await settledWithin(stream.opened, 10)).toEqual({ status: 'rejected', reason: 'stop' });
  });

  it('aborting after opened does nothing', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', echo);
    const controller = new AbortController();
    const stream = connect(server.url, { signal: controller.signal });
    const { readable, writable } = await withTimeout(stream.opened, 5_000, 'opened');
    controller.abort(new Error('too late'));
    expect(await settledWithin(stream.closed, 100)).toBe(NOT_SETTLED);
    const writer = writable.getWriter();
    const reader = readable.getReader();
    await writer.write('still open');
    expect(await read(reader)).toEqual({ done: false, value: 'still open' });
    stream.close({ closeCode: 1000 });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1000, reason: '' });
  });
});

describe('Reading', () => {
  it('delivers one message per chunk: text as string, binary as a plain Uint8Array owning its buffer', async () => {
    const server = await startWsPeer();
    const large = Buffer.alloc(300 * 1024, 7); // spans several socket reads
    server.wss.on('connection', (ws) => {
      ws.send('hello');
      ws.send(Buffer.from([1, 2, 3]));
      ws.send(large);
      ws.send(Buffer.alloc(0));
      ws.send(Buffer.from([4, 5]), { fin: false });
      ws.send(Buffer.from([6]), { fin: true }); // one message of two fragments
      ws.send('');
    });
    const stream = connect(server.url);
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const reader = readable.getReader();
    const chunks: Chunk[] = [];
    for (let i = 0; i < 6; i++) chunks.push((await read(reader)).value!);

    expect(chunks[0]).toBe('hello');
    expect(chunks[5]).toBe('');
    const expected = [[1, 2, 3], [...large], [], [4, 5, 6]];
    for (const [i, bytes] of expected.entries()) {
      const chunk = chunks[i + 1] as Uint8Array;
      expect(Object.getPrototypeOf(chunk)).toBe(Uint8Array.prototype); // not a Buffer
      expect(Buffer.isBuffer(chunk)).toBe(false);
      expect(chunk.buffer.byteLength).toBe(chunk.byteLength); // owns an exact ArrayBuffer
      expect(chunk.byteOffset).toBe(0);
      expect(chunk.buffer).not.toBeInstanceOf(SharedArrayBuffer);
      expect(chunk.byteLength).toBe(bytes.length);
      expect(Buffer.from(chunk).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('binaryType "arraybuffer" gives ArrayBuffer chunks', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => {
      ws.send(Buffer.from([1, 2, 3]));
      ws.send(Buffer.alloc(200 * 1024, 9));
      ws.send('text stays a string');
    });
    const stream = connect(server.url, { binaryType: 'arraybuffer' });
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const reader = readable.getReader();
    const small = (await read(reader)).value;
    const big = (await read(reader)).value;
    expect(Object.getPrototypeOf(small)).toBe(ArrayBuffer.prototype);
    expect([...new Uint8Array(small as ArrayBuffer)]).toEqual([1, 2, 3]);
    expect(Object.getPrototypeOf(big)).toBe(ArrayBuffer.prototype);
    expect((big as ArrayBuffer).byteLength).toBe(200 * 1024);
    expect(new Uint8Array(big as ArrayBuffer).every((b) => b === 9)).toBe(true);
    expect((await read(reader)).value).toBe('text stays a string');
  });

  it('invalid UTF-8 in a text message fails the connection with 1007', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    const seen = serverClose(ws);
    ws.send(Buffer.from([0x68, 0xc3, 0x28]), { binary: false }); // ws does not validate what it sends
    expect((await seen).code).toBe(1007);
    const error = expectWebSocketError(await rejectionOf(stream.closed), 1006);
    expect(error.message).toMatch(/1007/);
  });

  it('a message above maxPayload fails the connection with 1009', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url, { maxPayload: 1024 });
    const ws = await serverWs;
    const seen = serverClose(ws);
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const reader = readable.getReader();
    ws.send(Buffer.alloc(1024, 1)); // exactly the limit: fine
    ws.send(Buffer.alloc(1025, 2));
    expect((await read(reader)).value).toHaveProperty('byteLength', 1024);
    expect((await seen).code).toBe(1009);
    const error = expectWebSocketError(await rejectionOf(stream.closed), 1006);
    expect(error.message).toMatch(/1009/);
    expect(await rejectionOf(reader.read())).toBe(error);
  });

  it('a protocol violation fails the connection with 1002, and closed names the code it sent', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    const seen = serverClose(ws);
    await withTimeout(stream.opened, 5_000, 'opened');
    (ws as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x83, 0x00])); // opcode 0x3 is reserved
    expect((await seen).code).toBe(1002);
    const error = expectWebSocketError(await rejectionOf(stream.closed), 1006);
    expect(error.message).toMatch(/1002/);
  });
});

describe('Writing', () => {
  it('sends ArrayBuffers and views as binary, copied at write(), and never touches the caller\'s bytes', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    const received = collect(ws);
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const writer = writable.getWriter();

    const bytes = new Uint8Array([1, 2, 3, 4]);
    const pending = writer.write(bytes);
    bytes.fill(9); // after write(): must not change what is sent
    await pending;
    expect([...bytes]).toEqual([9, 9, 9, 9]); // masking worked on a copy

    const buffer = new Uint8Array([10, 11, 12]).buffer;
    const pending2 = writer.write(buffer);
    new Uint8Array(buffer).fill(0);
    await pending2;

    const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
    await writer.write(new DataView(backing.buffer, 2, 3)); // only the view's bytes
    await writer.write(new Uint16Array(backing.buffer, 4, 2)); // any view, as bytes
    await writer.write(Buffer.from('buf'));

    await waitFor(() => received.length === 5, 5_000, 'five messages');
    expect(received.map((m) => m.isBinary)).toEqual([true, true, true, true, true]);
    expect(received.map((m) => [...m.data])).toEqual([[1, 2, 3, 4], [10, 11, 12], [2, 3, 4], [4, 5, 6, 7], [...Buffer.from('buf')]]);
  });

  it('sends anything else as text: write(42) sends "42"', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    const received = collect(ws);
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    await writer.write(42);
    await writer.write('h\u00e9llo \u{1f600}');
    await writer.write({ toString: () => 'object' });
    await writer.write(null);
    await writer.write('\ud800'); // lone surrogate: USVString makes it U+FFFD
    await waitFor(() => received.length === 5, 5_000, 'five messages');
    expect(received.map((m) => m.isBinary)).toEqual([false, false, false, false, false]);
    expect(received.map((m) => m.data.toString('utf8'))).toEqual(['42', 'h\u00e9llo \u{1f600}', 'object', 'null', '\ufffd']);
  });

  it('rejects a resizable ArrayBuffer (or a view on one) with a TypeError', async () => {
    const server = await startWsPeer();
    for (const make of [
      () => new ArrayBuffer(8, { maxByteLength: 16 }),
      () => new Uint8Array(new ArrayBuffer(8, { maxByteLength: 16 })),
      () => new SharedArrayBuffer(8),
      () => new Uint8Array(new SharedArrayBuffer(8)),
    ]) {
      const stream = connect(server.url);
      const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
      const writer = writable.getWriter();
      expect(await rejectionOf(writer.write(make()))).toBeInstanceOf(TypeError);
    }
  });

  it('resolves a write once the socket has taken it, not when the peer has read it', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    ws.pause(); // the server reads nothing
    const received = collect(ws);
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    await withTimeout(writer.write('taken'), 5_000, 'the write');
    await delay(50);
    expect(received).toHaveLength(0); // resolved, yet not delivered
    ws.resume();
    await waitFor(() => received.length === 1, 5_000, 'delivery');
  });

  it('rejects writes after close() with InvalidStateError', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', echo);
    const stream = connect(server.url);
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    stream.close();
    expectDOMException(await rejectionOf(writer.write('late')), 'InvalidStateError');
    await withTimeout(stream.closed, 5_000, 'closed');
    expectDOMException(await rejectionOf(writer.write('later')), 'InvalidStateError');
  });

  // As in Chrome (WPT websockets/stream write.any.js): the writable errors with the rejection of the
  // write it was waiting for; the readable and closed get the WebSocketError.
  it('rejects a write still unsent when the connection drops with InvalidStateError, and later writes with the same object', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    ws.pause();
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    const chunk = new Uint8Array(64 * 1024);
    let stuck: Promise<void> | null = null;
    for (let i = 0; i < 4096 && stuck === null; i++) {
      const write = writer.write(chunk);
      if ((await settledWithin(write, 200)) === NOT_SETTLED) stuck = write;
    }
    expect(stuck).not.toBeNull();
    stuck!.catch(() => {});
    ws.terminate();
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
    const writeError = await rejectionOf(stuck!);
    expectDOMException(writeError, 'InvalidStateError');
    expect(await rejectionOf(writer.ready)).toBe(writeError);
    expect(await rejectionOf(writer.write('x'))).toBe(writeError);
  });

  it('writer.close() sends a Close frame without body and resolves only when the closing handshake is complete', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    ws.pause(); // the server will not see (nor answer) the Close frame for now
    const seen = serverClose(ws);
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const writer = writable.getWriter();
    const closing = writer.close();
    expect(await settledWithin(closing, 300)).toBe(NOT_SETTLED);
    expect(await settledWithin(stream.closed, 0)).toBe(NOT_SETTLED);
    ws.resume();
    await withTimeout(closing, 5_000, 'writer.close()');
    expect(await settledWithin(stream.closed, 0)).toEqual({ status: 'fulfilled', value: { closeCode: 1005, reason: '' } });
    expect(await seen).toEqual({ code: 1005, reason: '' });
  });
});

describe('Closing', () => {
  it('close() validates: InvalidAccessError, SyntaxError, TypeError, all thrown synchronously', async () => {
    const server = await startWsPeer();
    const stream = connect(server.url);
    for (const closeCode of [1001, 2999, 5000, 1005, 999]) {
      try {
        stream.close({ closeCode });
        expect.unreachable(`code ${closeCode} was accepted`);
      } catch (error) {
        expectDOMException(error, 'InvalidAccessError');
      }
    }
    try {
      stream.close({ closeCode: 1000, reason: 'x'.repeat(124) });
      expect.unreachable('a 124-byte reason was accepted');
    } catch (error) {
      expectDOMException(error, 'SyntaxError');
    }
    // A number, a string, a boolean are not dictionaries (WebIDL): TypeError.
    expect(() => stream.close(5 as never)).toThrow(TypeError);
    expect(() => stream.close('bye' as never)).toThrow(TypeError);
    expect(() => stream.close(true as never)).toThrow(TypeError);
    expect(() => stream.close({ closeCode: 70000 })).toThrow(TypeError);
    // None of these closed anything.
    await withTimeout(stream.opened, 5_000, 'opened');
    expect(await settledWithin(stream.closed, 50)).toBe(NOT_SETTLED);
  });

  it('close() with no arguments sends a Close frame without body (the server sees 1005)', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const seen = serverClose(await serverWs);
    await withTimeout(stream.opened, 5_000, 'opened');
    stream.close();
    expect(await seen).toEqual({ code: 1005, reason: '' });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1005, reason: '' });
  });

  it('close() with a code and reason sends them', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const seen = serverClose(await serverWs);
    await withTimeout(stream.opened, 5_000, 'opened');
    stream.close({ closeCode: 4321, reason: 'h\u00e9' });
    expect(await seen).toEqual({ code: 4321, reason: 'h\u00e9' });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 4321, reason: 'h\u00e9' });
  });

  it('close() with a reason and no code sends 1000', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const seen = serverClose(await serverWs);
    await withTimeout(stream.opened, 5_000, 'opened');
    stream.close({ reason: 'bye' });
    expect(await seen).toEqual({ code: 1000, reason: 'bye' });
  });

  it('close() before opened fails the connection: both promises reject with a WebSocketError', async () => {
    const server = await startWsPeer();
    const stream = new WebSocketStream(server.url);
    stream.close({ closeCode: 1000, reason: 'never mind' });
    const openedError = await rejectionOf(stream.opened);
    const closedError = await rejectionOf(stream.closed);
    expect(openedError).toBeInstanceOf(WebSocketError);
    expect(closedError).toBeInstanceOf(WebSocketError);
  });

  it('close() during a handshake the server never answers fails it at once', async () => {
    const silent = await startSilentServer();
    const stream = new WebSocketStream(silent.url);
    await waitFor(() => silent.connections.length === 1, 5_000, 'the TCP connection');
    stream.close();
    expect(await rejectionOf(stream.opened, 1_000)).toBeInstanceOf(WebSocketError);
    expect(await rejectionOf(stream.closed, 1_000)).toBeInstanceOf(WebSocketError);
  });

  it('close() twice does nothing the second time', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const seen = serverClose(await serverWs);
    await withTimeout(stream.opened, 5_000, 'opened');
    stream.close({ closeCode: 4001, reason: 'first' });
    stream.close({ closeCode: 4002, reason: 'second' });
    expect(await seen).toEqual({ code: 4001, reason: 'first' });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 4001, reason: 'first' });
    stream.close({ closeCode: 4003 }); // after the end: nothing either
  });

  it('close() keeps reading until the peer\'s Close arrives, even with a full queue', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    await withTimeout(stream.opened, 5_000, 'opened');
    for (let i = 0; i < 200; i++) ws.send(Buffer.alloc(64 * 1024)); // far more than the queue holds
    await delay(100);
    stream.close({ closeCode: 1000 });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1000, reason: '' });
  });

  for (const [what, close] of [
    ['readable.cancel()', (info: { readable: ReadableStream; writable: WritableStream }, reason: unknown) => info.readable.cancel(reason)],
    ['writable.abort()', (info: { readable: ReadableStream; writable: WritableStream }, reason: unknown) => info.writable.abort(reason)],
  ] as const) {
    it(`${what} with a WebSocketError sends its code and reason`, async () => {
      const server = await startWsPeer();
      const serverWs = server.nextConnection();
      const stream = connect(server.url);
      const seen = serverClose(await serverWs);
      const info = await withTimeout(stream.opened, 5_000, 'opened');
      await withTimeout(close(info, new WebSocketError('x', { closeCode: 4000, reason: 'r' })), 5_000, what);
      expect(await seen).toEqual({ code: 4000, reason: 'r' });
      expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 4000, reason: 'r' });
    });

    it(`${what} with any other reason sends a Close frame without body`, async () => {
      const server = await startWsPeer();
      const serverWs = server.nextConnection();
      const stream = connect(server.url);
      const seen = serverClose(await serverWs);
      const info = await withTimeout(stream.opened, 5_000, 'opened');
      await withTimeout(close(info, 'other'), 5_000, what);
      expect(await seen).toEqual({ code: 1005, reason: '' });
      expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1005, reason: '' });
    });

    it(`${what} with a WebSocketError without code sends a Close frame without body`, async () => {
      const server = await startWsPeer();
      const serverWs = server.nextConnection();
      const stream = connect(server.url);
      const seen = serverClose(await serverWs);
      const info = await withTimeout(stream.opened, 5_000, 'opened');
      await withTimeout(close(info, new WebSocketError('no code')), 5_000, what);
      expect(await seen).toEqual({ code: 1005, reason: '' });
    });
  }

  it('clean close by the server: readable closes, writable errors with InvalidStateError, closed has the code and reason', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    const { readable, writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const reader = readable.getReader();
    const writer = writable.getWriter();
    ws.send('last words');
    ws.close(4001, 'bye');
    expect(await read(reader)).toEqual({ done: false, value: 'last words' });
    expect(await read(reader, 'the end')).toEqual({ done: true, value: undefined });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 4001, reason: 'bye' });
    expectDOMException(await rejectionOf(writer.ready), 'InvalidStateError');
    expectDOMException(await rejectionOf(writer.write('x')), 'InvalidStateError');
    await withTimeout(reader.closed, 1_000, 'reader.closed');
  });

  it('clean close by the server without a body: closed has 1005 and ""', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.close());
    const stream = connect(server.url);
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1005, reason: '' });
  });

  it('unclean close (server terminates): one WebSocketError with 1006 errors both streams and rejects closed', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url);
    const ws = await serverWs;
    const { readable, writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const reader = readable.getReader();
    const writer = writable.getWriter();
    const pendingRead = reader.read();
    ws.terminate();
    const error = expectWebSocketError(await rejectionOf(stream.closed), 1006);
    expect(error.reason).toBe('');
    expect(await rejectionOf(pendingRead)).toBe(error);
    expect(await rejectionOf(reader.read())).toBe(error);
    expect(await rejectionOf(writer.ready)).toBe(error);
    expect(await rejectionOf(writer.write('x'))).toBe(error);
    expect(await rejectionOf(reader.closed)).toBe(error);
    expect(await rejectionOf(writer.closed)).toBe(error);
  });

  it('handshake failure (connection refused): opened rejects with a WebSocketError whose closeCode is null, closed with 1006', async () => {
    const port = await closedPort();
    const stream = new WebSocketStream(`ws://127.0.0.1:${port}`);
    const openedError = await rejectionOf(stream.opened);
    expectWebSocketError(openedError, null); // as Chrome: there was no connection to close
    expect((openedError as Error).message).toMatch(/ECONNREFUSED|refused/i);
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
  });

  it('handshake failure (non-101 status): the message says what failed', async () => {
    const server = await startWsPeer({ verifyClient: () => false }); // ws answers 401
    const stream = new WebSocketStream(server.url);
    const openedError = await rejectionOf(stream.opened);
    expectWebSocketError(openedError, null); // as Chrome: there was no connection to close
    expect((openedError as Error).message).toMatch(/401/);
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
  });

  it('handshake failure (subprotocol not offered)', async () => {
    const server = await startWsPeer({ handleProtocols: () => 'unoffered' });
    const stream = new WebSocketStream(server.url, { protocols: ['chat'] });
    const openedError = await rejectionOf(stream.opened);
    expectWebSocketError(openedError, null); // as Chrome: there was no connection to close
    expect((openedError as Error).message).toMatch(/unoffered/);
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
  });

  it('handshake failure (bad Sec-WebSocket-Accept)', async () => {
    const silent = await startSilentServer();
    silent.server.on('connection', (socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n');
      });
    });
    const stream = new WebSocketStream(silent.url);
    const openedError = await rejectionOf(stream.opened);
    expectWebSocketError(openedError, null); // as Chrome: there was no connection to close
    expect((openedError as Error).message).toMatch(/Sec-WebSocket-Accept/);
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
  });

  it('close() before the handshake completed: opened rejects with closeCode null, closed with 1006', async () => {
    const silent = await startSilentServer(); // never answers the handshake
    const stream = new WebSocketStream(silent.url);
    await waitFor(() => silent.connections.length === 1, 5_000, 'the TCP connection');
    stream.close();
    const openedError = expectWebSocketError(await rejectionOf(stream.opened), null);
    const closedError = expectWebSocketError(await rejectionOf(stream.closed), 1006);
    expect(openedError.message).toMatch(/closed before the connection was established/);
    expect(closedError.message).toBe(openedError.message);
  });
});

describe('Unhandled rejections', () => {
  let bundle: string;
  beforeAll(async () => {
    bundle = await bundleLibrary();
  }, 60_000);
  afterAll(removeBundles);

  it('opened and closed rejections never crash the process, even when nobody awaits them', async () => {
    const port = await closedPort();
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.terminate()); // opened resolves, closed rejects
    const silent = await startSilentServer();
    const script = `
      const { WebSocketStream } = await import(${JSON.stringify(new URL(`file://${bundle}`).href)});
      new WebSocketStream('ws://127.0.0.1:${port}');                              // refused
      new WebSocketStream('ws://127.0.0.1:${port}', { signal: AbortSignal.abort() }); // aborted at once
      new WebSocketStream('ws://127.0.0.1:${port}').close();                       // closed before open
      new WebSocketStream('${silent.url}', { handshakeTimeout: 100 });             // timed out
      new WebSocketStream('${server.url}');                                        // dropped after open
      const c = new AbortController();
      new WebSocketStream('${silent.url}', { signal: c.signal });
      setTimeout(() => c.abort(), 50);                                             // aborted in the handshake
      setTimeout(() => console.log('still alive'), 800);
    `;
    const result = await runNode(['--input-type=module', '-e', script], 15_000);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('still alive\n');
    expect(result.code).toBe(0);
  });
});

describe('Node options', () => {
  it('headers: extra request headers reach the server (object or pairs)', async () => {
    const server = await startWsPeer();
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    server.wss.on('connection', (_ws, request) => seen.push(request.headers));
    const a = connect(server.url, { headers: { 'X-Custom': 'yes', Authorization: 'Bearer t' } });
    await withTimeout(a.opened, 5_000, 'opened');
    const b = connect(server.url, { headers: [['X-Pair', '1']] });
    await withTimeout(b.opened, 5_000, 'opened');
    expect(seen[0]!['x-custom']).toBe('yes');
    expect(seen[0]!.authorization).toBe('Bearer t');
    expect(seen[1]!['x-pair']).toBe('1');
  });

  it('headers: a header the protocol owns is a TypeError', () => {
    for (const name of ['Sec-WebSocket-Key', 'upgrade', 'Connection', 'sec-websocket-version', 'Sec-WebSocket-Protocol', 'Sec-WebSocket-Extensions']) {
      expect(() => new WebSocketStream('ws://127.0.0.1:1', { ...noConnection(), headers: { [name]: 'x' } }), name).toThrow(TypeError);
    }
    expect(() => new WebSocketStream('ws://127.0.0.1:1', { ...noConnection(), headers: { 'Bad Name': 'x' } })).toThrow(TypeError);
    expect(() => new WebSocketStream('ws://127.0.0.1:1', { ...noConnection(), headers: { 'X-A': 'a\r\nX-B: b' } })).toThrow(TypeError);
  });

  it('maxPayload: an incoming message above the limit closes with 1009', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url, { maxPayload: 100 });
    const ws = await serverWs;
    const seen = serverClose(ws);
    ws.send('x'.repeat(101));
    expect((await seen).code).toBe(1009);
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
  });

  it('maxPayload applies to the whole of a fragmented message', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = connect(server.url, { maxPayload: 100 });
    const ws = await serverWs;
    const seen = serverClose(ws);
    ws.send(Buffer.alloc(60), { fin: false });
    ws.send(Buffer.alloc(60), { fin: true });
    expect((await seen).code).toBe(1009);
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
  });

  it('handshakeTimeout: a server that never answers fails the handshake in time', async () => {
    const silent = await startSilentServer();
    const started = Date.now();
    const stream = new WebSocketStream(silent.url, { handshakeTimeout: 200 });
    const error = await rejectionOf(stream.opened, 3_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as Error).message).toMatch(/timed out/i);
    expectWebSocketError(await rejectionOf(stream.closed), 1006);
    const serverSide = silent.connections[0]!;
    if (!serverSide.destroyed) await withTimeout(once(serverSide, 'close'), 5_000, 'the server socket to close');
  });

  it('rejects invalid Node options with a TypeError', () => {
    const url = 'ws://127.0.0.1:1';
    expect(() => new WebSocketStream(url, { ...noConnection(), maxPayload: -1 })).toThrow(TypeError);
    expect(() => new WebSocketStream(url, { ...noConnection(), handshakeTimeout: Number.NaN })).toThrow(TypeError);
    expect(() => new WebSocketStream(url, { ...noConnection(), binaryType: 'blob' as never })).toThrow(TypeError);
    expect(() => new WebSocketStream(url, { ...noConnection(), readableStrategy: 1 as never })).toThrow(TypeError);
  });

  describe('TLS', () => {
    let tls: { key: string; cert: string; dir: string | null };
    beforeAll(async () => {
      tls = await makeCertificate();
    }, 30_000);
    afterAll(async () => {
      if (tls?.dir) await rm(tls.dir, { recursive: true, force: true });
    });

    async function startTlsServer() {
      const https = createHttpsServer({ key: tls.key, cert: tls.cert });
      const server = await startWsPeer({}, https as never);
      server.wss.on('connection', echo);
      return `wss://127.0.0.1:${server.port}`;
    }

    it('wss: with the self-signed certificate as `ca` connects and echoes', async () => {
      const url = await startTlsServer();
      const stream = connect(url, { ca: tls.cert });
      const { readable, writable } = await withTimeout(stream.opened, 5_000, 'opened');
      const reader = readable.getReader();
      await writable.getWriter().write('over tls');
      expect(await read(reader)).toEqual({ done: false, value: 'over tls' });
    });

    it('https: URLs connect over TLS too', async () => {
      const url = (await startTlsServer()).replace('wss:', 'https:');
      const stream = connect(url, { ca: tls.cert });
      expect(stream.url.startsWith('wss://')).toBe(true);
      await withTimeout(stream.opened, 5_000, 'opened');
    });

    it('wss: without `ca` fails with an error about the certificate', async () => {
      const url = await startTlsServer();
      const stream = new WebSocketStream(url);
      const error = await rejectionOf(stream.opened);
      expect(error).toBeInstanceOf(WebSocketError);
      expect((error as Error).message).toMatch(/certificate/i);
      expectWebSocketError(await rejectionOf(stream.closed), 1006);
    });
  });
});

/** A fresh self-signed certificate for 127.0.0.1 when openssl exists, else the committed fixture. */
async function makeCertificate(): Promise<{ key: string; cert: string; dir: string | null }> {
  const dir = await mkdtemp(join(tmpdir(), 'wss-tls-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { timeout: 20_000 });
    return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8'), dir };
  } catch {
    await rm(dir, { recursive: true, force: true });
    const fixtures = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'fixtures', 'tls');
    if (!existsSync(join(fixtures, 'cert.pem'))) throw new Error('openssl is missing and so is test/fixtures/tls');
    return { key: await readFile(join(fixtures, 'key.pem'), 'utf8'), cert: await readFile(join(fixtures, 'cert.pem'), 'utf8'), dir: null };
  }
}
