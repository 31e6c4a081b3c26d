// What users get from the built package (dist/, ESM and CJS; `npm test` builds first): every
// exported class and function keeps its own name (esbuild renamed WebSocketError to
// _WebSocketError), console.log of a WebSocketError shows its closeCode and reason, and a missing
// required argument is a TypeError (WebIDL), not an error about the value `undefined`; the
// classic WebSocket's message events (made without MessageEvent's constructor) are MessageEvents;
// a pong that cannot be written at once does not stop reading.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { frame, startRawServer } from './helpers/raw-server.js';
import { withTimeout } from './helpers/timing.js';

type Package = Record<string, unknown>;
type Constructor = new (...args: unknown[]) => unknown;
type Callable = (...args: unknown[]) => unknown;

const builds: Array<[string, () => Promise<Package>]> = [
  ['ESM', async () => (await import(pathToFileURL(resolve('dist/index.js')).href)) as Package],
  ['CJS', async () => createRequire(import.meta.url)(resolve('dist/index.cjs')) as Package],
];

describe.each(builds)('the %s build', (_format, load) => {
  it('exports every class and function under its own name', async () => {
    const exported = await load();
    const functions = Object.entries(exported).filter(([, value]) => typeof value === 'function');
    expect(functions.length).toBeGreaterThanOrEqual(8);
    for (const [name, value] of functions) expect({ name, actual: (value as () => void).name }).toEqual({ name, actual: name });
  });

  it('names WebSocketError and its instances WebSocketError', async () => {
    const { WebSocketError } = (await load()) as { WebSocketError: new (m: string, i?: object) => Error };
    const error = new WebSocketError('x', { closeCode: 4567, reason: 'bye' });
    expect(error.constructor.name).toBe('WebSocketError');
    expect(error.name).toBe('WebSocketError');
    expect(Object.prototype.toString.call(error)).toBe('[object WebSocketError]');
    expect(String(error)).toBe('WebSocketError: x');
    expect(error.stack).toMatch(/^WebSocketError: x\n/);
  });

  it('util.inspect shows closeCode and reason, without adding own properties', async () => {
    const { WebSocketError } = (await load()) as { WebSocketError: new (m: string, i?: object) => Error };
    const error = new WebSocketError('closing', { closeCode: 4567, reason: 'bye' });
    const printed = inspect(error);
    expect(printed).toMatch(/^WebSocketError: closing\n/);
    expect(printed).not.toContain('_WebSocketError');
    expect(printed).toMatch(/\{\n {2}closeCode: 4567,\n {2}reason: 'bye'\n\}$/);
    expect(inspect(new WebSocketError('plain'))).toMatch(/closeCode: null,\n {2}reason: ''\n\}$/);
    expect(Object.getOwnPropertyNames(error)).toEqual(['stack']);
    expect(inspect({ nested: error })).toContain('closeCode: 4567');
  });
});

describe.each(builds)('required arguments in the %s build', (_format, load) => {
  it('new WebSocketStream() and new WebSocket() are a TypeError, before any URL parsing', async () => {
    const { WebSocketStream, WebSocket } = (await load()) as Record<string, Constructor>;
    for (const Class of [WebSocketStream!, WebSocket!]) {
      expect(() => new Class()).toThrow(TypeError);
      expect(() => new Class()).toThrow(/1 argument required, but only 0 present/);
      // One argument given, even undefined: WebIDL converts it, and "undefined" is no URL.
      expect(() => new Class(undefined)).toThrow(expect.objectContaining({ name: 'SyntaxError' }));
    }
  });

  it('new CloseEvent() is a TypeError (Node 20 has no global CloseEvent: ours stands in)', async () => {
    const { CloseEvent } = (await load()) as Record<string, Constructor>;
    expect(() => new CloseEvent!()).toThrow(TypeError);
    expect((new CloseEvent!('close') as Event).type).toBe('close');
  });

  it('every exported function with required arguments throws a TypeError without them', async () => {
    const exported = await load();
    const calls: Array<[string, () => unknown]> = [
      ['acceptWebSocketStream', () => (exported.acceptWebSocketStream as Callable)()],
      ['acceptWebSocket', () => (exported.acceptWebSocket as Callable)()],
      ['toWritableStream', () => (exported.toWritableStream as Callable)()],
    ];
    for (const [name, call] of calls) expect(call, name).toThrow(TypeError);
    const serve = exported.serve as Callable;
    await expect(serve()).rejects.toThrow(TypeError);
    await expect(serve({})).rejects.toThrow(TypeError);
  });

  it('the classic WebSocket delivers every message, in order, as a MessageEvent named MessageEvent', async () => {
    const { serve, WebSocket } = (await load()) as { serve: Callable; WebSocket: Constructor };
    const server = (await serve({ host: '127.0.0.1' }, async (wss: { opened: Promise<{ writable: WritableStream }> }) => {
      const writer = (await wss.opened).writable.getWriter();
      await writer.write('text');
      await writer.write(new Uint8Array([1, 2, 3]));
      await writer.close();
    })) as { url: string; close(): Promise<void> };
    try {
      const ws = new WebSocket(server.url) as globalThis.WebSocket;
      ws.binaryType = 'arraybuffer';
      const events: MessageEvent[] = [];
      ws.onmessage = (event) => events.push(event);
      await new Promise((resolve) => (ws.onclose = resolve));
      expect(events.map((e) => (typeof e.data === 'string' ? e.data : [...new Uint8Array(e.data as ArrayBuffer)]))).toEqual(['text', [1, 2, 3]]);
      for (const event of events) {
        expect(event).toBeInstanceOf(MessageEvent);
        expect(event.constructor.name).toBe('MessageEvent');
        expect(event.origin).toBe(new URL(server.url).origin);
      }
    } finally {
      await server.close();
    }
  });

  it('keeps reading while a pong waits: the message behind 50,000 pings from a peer that never reads arrives', async () => {
    const { WebSocketStream } = (await load()) as { WebSocketStream: Constructor };
    const ping = frame(0x9, Buffer.alloc(125, 0x70));
    const flood = Buffer.concat([...Array.from({ length: 50_000 }, () => ping), frame(0x1, 'done')]);
    const server = await startRawServer(async (conn) => {
      await conn.acceptHandshake();
      conn.socket.removeAllListeners('data');
      conn.socket.pause(); // our pongs pile up in the kernel, then in the client's socket buffer
      conn.write(flood).catch(() => {});
    });
    const wss = new WebSocketStream(server.url) as { opened: Promise<{ readable: ReadableStream }>; close(): void };
    try {
      const reader = (await withTimeout(wss.opened, 5000, 'opened')).readable.getReader();
      expect((await withTimeout(reader.read(), 15_000, 'the message behind the pings')).value).toBe('done');
    } finally {
      wss.close();
      await server.close();
    }
  });

  it('WebSocket send() without a message is a TypeError, on an open connection', async () => {
    const { serve, WebSocket } = (await load()) as { serve: Callable; WebSocket: Constructor };
    const server = (await serve({ host: '127.0.0.1' }, async (wss: { opened: Promise<unknown>; closed: Promise<unknown> }) => {
      await wss.opened;
      await wss.closed.catch(() => {});
    })) as { url: string; close(): Promise<void> };
    try {
      const ws = new WebSocket(server.url) as globalThis.WebSocket;
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      expect(() => (ws.send as Callable)()).toThrow(TypeError);
      ws.close();
      await new Promise((resolve) => (ws.onclose = resolve));
    } finally {
      await server.close();
    }
  });
});
