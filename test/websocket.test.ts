// The classic WebSocket (WHATWG WebSockets Standard) over WebSocketStream: its API surface and
// edge cases, against a real `ws` server (and a raw TCP server where `ws` is too polite) on
// 127.0.0.1. The same scenarios against Node 24's own WebSocket are in
// test/interop/websocket-differential.test.ts.
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket as WsPeer } from 'ws';
import { acceptWebSocket, acceptWebSocketStream, CloseEvent, WebSocket } from '../src/index.js';
import { ADAPTER_STREAM_OPTIONS, wrapWebSocketStream } from '../src/websocket/websocket.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, waitFor, withTimeout } from './helpers/timing.js';
import { serverClose, startWsPeer } from './helpers/ws-peer.js';
import { frame, startRawServer, type RawServer, closedPort } from './helpers/raw-server.js';

afterEach(cleanup);

const WAIT = 5_000;

interface Recorded {
  type: string;
  readyState: number;
  event: Event;
}

/** A client whose events are recorded in order, closed after the test. */
function open(url: string, protocols?: string | string[], options?: ConstructorParameters<typeof WebSocket>[2]) {
  const ws = new WebSocket(url, protocols, options);
  const events: Recorded[] = [];
  for (const type of ['open', 'message', 'error', 'close']) {
    ws.addEventListener(type, (event) => events.push({ type, readyState: ws.readyState, event }));
  }
  const closed = withTimeout(once(ws, 'close').then(([event]) => event as CloseEvent), WAIT, 'the close event');
  closed.catch(() => {});
  onCleanup(() => {
    if (ws.readyState === WebSocket.OPEN) ws.close();
  });
  return { ws, events, closed, types: () => events.map((e) => e.type) };
}

function nextEvent<T extends Event = Event>(ws: WebSocket, type: string): Promise<T> {
  return withTimeout(once(ws, type).then(([event]) => event as T), WAIT, `a ${type} event`);
}

function echo(peer: WsPeer): void {
  peer.on('message', (data, isBinary) => peer.send(data as Buffer, { binary: isBinary }));
}

function expectDOMException(fn: () => unknown, name: string): void {
  let error: unknown;
  try {
    fn();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(DOMException);
  expect((error as DOMException).name).toBe(name);
}

async function echoServer() {
  const server = await startWsPeer();
  server.wss.on('connection', echo);
  return server;
}

const rawServers: RawServer[] = [];
afterEach(async () => {
  await Promise.all(rawServers.splice(0).map((server) => server.close()));
});

describe('the interface', () => {
  it('has the four constants, read-only, on the class and on instances', async () => {
    const server = await echoServer();
    const { ws } = open(server.url);
    for (const [name, value] of [['CONNECTING', 0], ['OPEN', 1], ['CLOSING', 2], ['CLOSED', 3]] as const) {
      expect(WebSocket[name]).toBe(value);
      expect(ws[name]).toBe(value);
      expect(Object.getOwnPropertyDescriptor(WebSocket, name)).toMatchObject({ writable: false, enumerable: true });
      expect(Object.getOwnPropertyDescriptor(WebSocket.prototype, name)).toMatchObject({ writable: false });
    }
    expect(Object.prototype.toString.call(ws)).toBe('[object WebSocket]');
    expect(ws).toBeInstanceOf(EventTarget);
  });

  it('starts CONNECTING with url, empty protocol and extensions, bufferedAmount 0, binaryType "blob"', async () => {
    const server = await echoServer();
    const { ws } = open(`${server.url.replace('ws:', 'http:')}/path?q=1`);
    expect(ws.readyState).toBe(WebSocket.CONNECTING);
    expect(ws.url).toBe(`${server.url}/path?q=1`);
    expect(ws.protocol).toBe('');
    expect(ws.extensions).toBe('');
    expect(ws.bufferedAmount).toBe(0);
    expect(ws.binaryType).toBe('blob');
  });

  it('throws SyntaxError for a bad URL, scheme or fragment, and for bad or duplicate subprotocols', () => {
    expectDOMException(() => new WebSocket('not a url'), 'SyntaxError');
    expectDOMException(() => new WebSocket('ftp://127.0.0.1/'), 'SyntaxError');
    expectDOMException(() => new WebSocket('ws://127.0.0.1/#frag'), 'SyntaxError');
    expectDOMException(() => new WebSocket('ws://127.0.0.1/', 'a b'), 'SyntaxError');
    expectDOMException(() => new WebSocket('ws://127.0.0.1/', ['chat', 'chat']), 'SyntaxError');
    expectDOMException(() => new WebSocket('ws://127.0.0.1/', ['chat', 'CHAT']), 'SyntaxError');
  });

  it('throws TypeError for options the adapter owns, and for a non-object', () => {
    expect(() => new WebSocket('ws://127.0.0.1/', [], { protocols: ['x'] } as never)).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1/', [], { binaryType: 'arraybuffer' } as never)).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1/', [], { readableStrategy: { highWaterMark: 1 } } as never)).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1/', [], 'nope' as never)).toThrow(TypeError);
    expect(() => new WebSocket('ws://127.0.0.1/', [], { maxPayload: -1 })).toThrow(TypeError);
  });

  it('ignores binaryType values outside the enumeration, as WebIDL says', async () => {
    const server = await echoServer();
    const { ws } = open(server.url);
    ws.binaryType = 'arraybuffer';
    ws.binaryType = 'nodebuffer' as never;
    expect(ws.binaryType).toBe('arraybuffer');
    ws.binaryType = 'blob';
    expect(ws.binaryType).toBe('blob');
  });

  it('exports a CloseEvent with the standard defaults', () => {
    const event = new CloseEvent('close');
    expect(event).toBeInstanceOf(Event);
    expect([event.type, event.wasClean, event.code, event.reason]).toEqual(['close', false, 0, '']);
    const custom = new CloseEvent('close', { wasClean: true, code: 4000, reason: 'r' });
    expect([custom.wasClean, custom.code, custom.reason]).toEqual([true, 4000, 'r']);
    expect(Object.prototype.toString.call(custom)).toBe('[object CloseEvent]');
  });
});

describe('opening', () => {
  it('sends the subprotocols (a string or an array) and reports the chosen one at open', async () => {
    const server = await startWsPeer({ handleProtocols: (offered) => [...offered].at(-1) ?? false });
    const single = open(server.url, 'chat');
    await nextEvent(single.ws, 'open');
    expect(single.ws.protocol).toBe('chat');
    const several = open(server.url, ['chat', 'superchat']);
    await nextEvent(several.ws, 'open');
    expect(several.ws.protocol).toBe('superchat');
    expect(several.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('passes the Node options on: extra headers reach the server', async () => {
    const server = await startWsPeer();
    const headers = once(server.wss, 'connection').then(([, request]) => (request as { headers: Record<string, string> }).headers);
    const { ws } = open(server.url, [], { headers: { 'X-Token': 'abc' } });
    await nextEvent(ws, 'open');
    expect((await headers)['x-token']).toBe('abc');
  });

  it('dispatches open asynchronously: a listener added after the constructor sees it, with readyState OPEN', async () => {
    const server = await echoServer();
    const { ws, events } = open(server.url);
    expect(events).toEqual([]);
    const event = await nextEvent(ws, 'open');
    expect(event.constructor).toBe(Event);
    expect(events.map((e) => [e.type, e.readyState])).toEqual([['open', WebSocket.OPEN]]);
  });

  it('throws InvalidStateError on send() while CONNECTING, without counting the bytes', async () => {
    const server = await echoServer();
    const { ws } = open(server.url);
    expectDOMException(() => ws.send('x'), 'InvalidStateError');
    expect(ws.bufferedAmount).toBe(0);
  });

  it('fires error then close (1006, not clean) when the server refuses the handshake', async () => {
    const server = await startWsPeer({ verifyClient: () => false });
    const { events, closed } = open(server.url);
    const close = await closed;
    expect(events.map((e) => [e.type, e.readyState])).toEqual([['error', 3], ['close', 3]]);
    expect([close.wasClean, close.code, close.reason]).toEqual([false, 1006, '']);
    expect(close).toBeInstanceOf(CloseEvent);
  });

  it('fires error then close when nothing listens on the port', async () => {
    const { events, closed } = open(`ws://127.0.0.1:${await closedPort()}/`);
    expect((await closed).code).toBe(1006);
    expect(events.map((e) => e.type)).toEqual(['error', 'close']);
  });

  it('close() while CONNECTING fails the connection: CLOSING at once, then error and close 1006', async () => {
    const server = await echoServer();
    const { ws, events, closed } = open(server.url);
    ws.close(1000, 'never mind');
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    ws.send('ignored'); // no exception once closing has started
    expect(ws.bufferedAmount).toBe(7);
    const close = await closed;
    expect(events.map((e) => [e.type, e.readyState])).toEqual([['error', 3], ['close', 3]]);
    expect([close.wasClean, close.code]).toEqual([false, 1006]);
  });
});

describe('messages', () => {
  it('echoes every data type, in send() order, Blob included', async () => {
    const server = await echoServer();
    const { ws, events } = open(server.url);
    await nextEvent(ws, 'open');
    ws.binaryType = 'arraybuffer';
    const bytes = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
    ws.send(new Blob([new Uint8Array([9, 9])]));
    ws.send('text \u00e9\u{1f600}');
    ws.send(bytes.buffer);
    ws.send(bytes.subarray(2, 5));
    ws.send(new DataView(bytes.buffer, 6, 2));
    ws.send(new Blob(['blob text']));
    ws.send(42 as never); // anything else is sent as its string
    await waitFor(() => events.length >= 8, WAIT, 'seven echoes');
    const data = events.slice(1).map((e) => (e.event as MessageEvent).data as string | ArrayBuffer);
    expect(data.map((d) => (typeof d === 'string' ? d : [...new Uint8Array(d)]))).toEqual([
      [9, 9],
      'text \u00e9\u{1f600}',
      [0, 1, 2, 3, 4, 5, 6, 7],
      [2, 3, 4],
      [6, 7],
      [...Buffer.from('blob text')],
      '42',
    ]);
    const event = events[1]!.event as MessageEvent;
    expect(event).toBeInstanceOf(MessageEvent);
    expect(event.origin).toBe(new URL(server.url).origin);
    expect(event.target).toBe(ws);
    // Made without MessageEvent's constructor (message-event.ts): every attribute reads as the
    // runtime's own MessageEvent would, and none can be assigned.
    const native = new MessageEvent('message', { data: event.data, origin: event.origin });
    for (const key of ['type', 'data', 'origin', 'lastEventId', 'source', 'ports', 'bubbles', 'cancelable'] as const) {
      expect(event[key], key).toEqual(native[key]);
    }
    expect(Object.isFrozen(event.ports)).toBe(true);
    expect(() => {
      (event as { data: unknown }).data = 'changed';
    }).toThrow(TypeError);
    expect(Object.prototype.toString.call(event)).toBe(Object.prototype.toString.call(native));
  });

  it('delivers binary as Blob by default, and applies a binaryType change from the next message on', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (peer) => {
      for (let i = 0; i < 3; i++) peer.send(Buffer.from([i]));
    });
    const { ws } = open(server.url);
    const seen: unknown[] = [];
    ws.onmessage = (event) => {
      seen.push((event as MessageEvent).data);
      ws.binaryType = 'arraybuffer';
    };
    await waitFor(() => seen.length === 3, WAIT, 'three messages');
    expect(seen[0]).toBeInstanceOf(Blob);
    expect([...new Uint8Array(await (seen[0] as Blob).arrayBuffer())]).toEqual([0]);
    expect(seen[1]).toBeInstanceOf(ArrayBuffer);
    expect(seen[2]).toBeInstanceOf(ArrayBuffer);
  });

  it('keeps a leading byte order mark in text messages, short and long', async () => {
    const server = await startWsPeer();
    const texts = ['\ufeffshort', `\ufeff${'long'.repeat(100)}`];
    server.wss.on('connection', (peer) => {
      for (const text of texts) peer.send(text);
    });
    const { ws } = open(server.url);
    const seen: string[] = [];
    ws.onmessage = (event) => seen.push((event as MessageEvent).data as string);
    await waitFor(() => seen.length === 2, WAIT, 'two messages');
    expect(seen).toEqual(texts);
  });

  it('sends the bytes as they were at send(): changing the buffer afterwards changes nothing', async () => {
    const server = await startWsPeer();
    const peer = server.nextConnection();
    const { ws } = open(server.url);
    await nextEvent(ws, 'open');
    const received: Buffer[] = [];
    (await peer).on('message', (data) => received.push(data as Buffer));
    const bytes = new Uint8Array(64 * 1024).fill(1);
    for (let i = 0; i < 8; i++) {
      ws.send(bytes);
      bytes.fill(i + 2);
    }
    await waitFor(() => received.length === 8, WAIT, 'eight messages');
    expect(received.map((data) => data[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('throws TypeError for shared buffers, and when send() has no argument', async () => {
    const server = await echoServer();
    const { ws } = open(server.url);
    await nextEvent(ws, 'open');
    expect(() => ws.send(new SharedArrayBuffer(4) as never)).toThrow(TypeError);
    expect(() => ws.send(new Uint8Array(new SharedArrayBuffer(4)) as never)).toThrow(TypeError);
    expect(() => (ws.send as (...args: unknown[]) => void)()).toThrow(TypeError);
  });

  it('has no read backpressure: a burst is dispatched completely without the application asking', async () => {
    const server = await startWsPeer();
    const count = 5_000;
    server.wss.on('connection', (peer) => {
      for (let i = 0; i < count; i++) peer.send(`m${i}`);
    });
    const { ws } = open(server.url);
    const seen: string[] = [];
    ws.onmessage = (event) => seen.push((event as MessageEvent).data as string);
    await waitFor(() => seen.length === count, WAIT, 'every message');
    expect(seen.at(-1)).toBe(`m${count - 1}`);
  });
});

describe('bufferedAmount', () => {
  it('grows by the UTF-8 bytes or size of each send, and falls to 0 once the socket took them', async () => {
    const server = await echoServer();
    const { ws } = open(server.url);
    await nextEvent(ws, 'open');
    ws.send('h\u00e9'); // 3 bytes
    expect(ws.bufferedAmount).toBe(3);
    ws.send(new Uint8Array(10));
    ws.send(new Blob(['12345']));
    expect(ws.bufferedAmount).toBe(18);
    await waitFor(() => ws.bufferedAmount === 0, WAIT, 'bufferedAmount to reach 0');
  });

  it('stays up while the peer does not read, and falls once it reads again', async () => {
    const server = await startWsPeer();
    const peerPromise = server.nextConnection();
    const { ws } = open(server.url);
    await nextEvent(ws, 'open');
    const peer = await peerPromise;
    const socket = (peer as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    const chunk = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 32; i++) ws.send(chunk);
    expect(ws.bufferedAmount).toBe(32 * chunk.length);
    await delay(300);
    // The kernel's buffers hold a few MiB at most; the rest waits in the process.
    expect(ws.bufferedAmount).toBeGreaterThan(8 * chunk.length);
    socket.resume();
    await waitFor(() => ws.bufferedAmount === 0, 10_000, 'bufferedAmount to reach 0');
  });

  it('only grows after close(): nothing more is sent', async () => {
    const server = await startWsPeer();
    const peerPromise = server.nextConnection();
    const { ws, closed } = open(server.url);
    await nextEvent(ws, 'open');
    const received: string[] = [];
    (await peerPromise).on('message', (data) => received.push(String(data)));
    ws.send('before');
    ws.close();
    ws.send('after');
    expect(ws.bufferedAmount).toBe(11);
    await closed;
    ws.send('closed');
    expect(ws.bufferedAmount).toBe(5 + 6);
    expect(received).toEqual(['before']);
  });
});

describe('closing', () => {
  it('validates code and reason like the standard: [Clamp] code, 1000 or 3000-4999, reason <= 123 bytes', async () => {
    const server = await echoServer();
    const { ws } = open(server.url);
    await nextEvent(ws, 'open');
    expectDOMException(() => ws.close(1001), 'InvalidAccessError');
    expectDOMException(() => ws.close(2999), 'InvalidAccessError');
    expectDOMException(() => ws.close(5000), 'InvalidAccessError');
    expectDOMException(() => ws.close(NaN), 'InvalidAccessError');
    expectDOMException(() => ws.close(1000, 'x'.repeat(124)), 'SyntaxError');
    expectDOMException(() => ws.close(1000, '\u00e9'.repeat(62)), 'SyntaxError');
    expect(ws.readyState).toBe(WebSocket.OPEN);
  });

  it('a clean close by the client reports the code and reason the server echoed', async () => {
    const server = await startWsPeer();
    const peer = server.nextConnection();
    const { ws, events, closed } = open(server.url);
    await nextEvent(ws, 'open');
    const seenByServer = serverClose(await peer);
    ws.close(4000, 'bye \u00e9');
    expect(ws.readyState).toBe(WebSocket.CLOSING);
    ws.close(4001); // closing twice does nothing
    const close = await closed;
    expect(await seenByServer).toEqual({ code: 4000, reason: 'bye \u00e9' });
    expect([close.wasClean, close.code, close.reason]).toEqual([true, 4000, 'bye \u00e9']);
    expect(events.map((e) => [e.type, e.readyState])).toEqual([['open', 1], ['close', 3]]);
  });

  it('close() rounds a fractional code ([Clamp]) and sends 1000 for a reason without a code', async () => {
    const server = await startWsPeer();
    const first = server.nextConnection();
    const a = open(server.url);
    await nextEvent(a.ws, 'open');
    const seenA = serverClose(await first);
    a.ws.close(3000.5); // ties go to the even neighbour
    expect(await seenA).toEqual({ code: 3000, reason: '' });

    const second = server.nextConnection();
    const b = open(server.url);
    await nextEvent(b.ws, 'open');
    const seenB = serverClose(await second);
    b.ws.close(undefined, '');
    expect((await seenB).code).toBe(1000);
  });

  it('close() without arguments sends a Close frame without a body: the close event says 1005', async () => {
    const server = await echoServer();
    const { ws, closed } = open(server.url);
    await nextEvent(ws, 'open');
    ws.close();
    const close = await closed;
    expect([close.wasClean, close.code, close.reason]).toEqual([true, 1005, '']);
  });

  it('sends what was queued before close() ahead of the Close frame', async () => {
    const server = await startWsPeer();
    const peerPromise = server.nextConnection();
    const { ws, closed } = open(server.url);
    await nextEvent(ws, 'open');
    const received: number[] = [];
    (await peerPromise).on('message', (data) => received.push((data as Buffer).length));
    const big = new Uint8Array(256 * 1024);
    for (let i = 0; i < 16; i++) ws.send(big);
    ws.send(new Blob([new Uint8Array(5)]));
    ws.close(1000);
    expect((await closed).wasClean).toBe(true);
    expect(received).toEqual([...Array(16).fill(big.length), 5]);
    expect(ws.bufferedAmount).toBe(0);
  });

  it('a close by the server delivers the messages before it, then close with its code and reason', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (peer) => {
      peer.send('one');
      peer.send('two');
      peer.close(4001, 'server bye');
    });
    const { events, closed } = open(server.url);
    const close = await closed;
    expect(events.map((e) => e.type)).toEqual(['open', 'message', 'message', 'close']);
    expect([close.wasClean, close.code, close.reason]).toEqual([true, 4001, 'server bye']);
  });

  it('drops messages that arrive after close() was called', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (peer) => {
      peer.on('message', () => {
        for (let i = 0; i < 100; i++) peer.send('late');
      });
    });
    const { ws, events, closed } = open(server.url);
    await nextEvent(ws, 'open');
    ws.send('go');
    await nextEvent(ws, 'message');
    ws.close();
    await closed;
    const afterClose = events.slice(events.findIndex((e) => e.readyState !== WebSocket.OPEN));
    expect(afterClose.map((e) => e.type)).toEqual(['close']);
  });

  it('fires error then close (1006) when the server drops the TCP connection', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (peer) => {
      peer.send('last words');
      setTimeout(() => peer.terminate(), 50);
    });
    const { events, closed } = open(server.url);
    const close = await closed;
    expect(events.map((e) => [e.type, e.readyState])).toEqual([['open', 1], ['message', 1], ['error', 3], ['close', 3]]);
    expect([close.wasClean, close.code, close.reason]).toEqual([false, 1006, '']);
  });

  it('fires error then close when the server breaks the protocol (invalid UTF-8)', async () => {
    const server = await startRawServer(async (conn) => {
      await conn.acceptHandshake();
      await conn.write(frame(0x1, Buffer.from([0xc3, 0x28])));
    });
    rawServers.push(server);
    const { events, closed } = open(server.url);
    const close = await closed;
    expect(events.map((e) => e.type)).toEqual(['open', 'error', 'close']);
    expect([close.wasClean, close.code]).toEqual([false, 1006]);
  });
});

describe('event handlers', () => {
  it('on* attributes: called with this = the socket, replaced in place, removed by null', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (peer) => {
      peer.send('a');
      peer.send('b');
      peer.send('c');
    });
    const { ws } = open(server.url);
    const calls: string[] = [];
    const first = function (this: WebSocket, event: Event): void {
      expect(this).toBe(ws);
      calls.push(`handler1:${String((event as MessageEvent).data)}`);
      ws.onmessage = second; // replaced: keeps its place before the listener below
    };
    const second = (event: Event): void => {
      calls.push(`handler2:${String((event as MessageEvent).data)}`);
      if ((event as MessageEvent).data === 'b') ws.onmessage = null;
    };
    ws.onmessage = first;
    ws.addEventListener('message', (event) => calls.push(`listener:${String((event as MessageEvent).data)}`));
    expect(ws.onmessage).toBe(first);
    await waitFor(() => calls.filter((c) => c.startsWith('listener')).length === 3, WAIT, 'three messages');
    expect(calls).toEqual(['handler1:a', 'listener:a', 'handler2:b', 'listener:b', 'listener:c']);
    expect(ws.onmessage).toBe(null);
    ws.onclose = 'not a function' as never;
    expect(ws.onclose).toBe(null);
  });

  it('an exception in a handler does not stop later events', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (peer) => {
      peer.send('1');
      peer.send('2');
    });
    const { ws, events } = open(server.url);
    const thrown: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      thrown.push(error);
    };
    // Node reports a listener's exception as uncaught, like a browser reports it to the console.
    process.on('uncaughtException', onUncaught);
    onCleanup(() => {
      process.off('uncaughtException', onUncaught);
    });
    ws.onmessage = () => {
      throw new Error('handler failure');
    };
    await waitFor(() => events.filter((e) => e.type === 'message').length === 2, WAIT, 'two messages');
    await waitFor(() => thrown.length === 2, WAIT, 'two reported exceptions');
  });
});

describe('server side', () => {
  it('acceptWebSocket() gives an http server the classic API, fed by the same engine', async () => {
    const http = createHttpServer();
    const accepted: WebSocket[] = [];
    http.on('upgrade', (request, socket, head) => {
      const ws = acceptWebSocket(request, socket, head, { protocols: ['chat'] });
      ws.binaryType = 'arraybuffer';
      ws.onmessage = (event) => ws.send((event as MessageEvent).data as string | ArrayBuffer);
      accepted.push(ws);
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    onCleanup(() => new Promise<void>((resolve) => {
      http.closeAllConnections();
      http.close(() => resolve());
    }));
    const { ws, closed } = open(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`, ['other', 'chat']);
    ws.binaryType = 'arraybuffer';
    await nextEvent(ws, 'open');
    expect(ws.protocol).toBe('chat');
    await waitFor(() => accepted[0]?.readyState === WebSocket.OPEN, WAIT, 'server open');
    expect(accepted[0]!.protocol).toBe('chat');
    ws.send('text');
    expect((await nextEvent<MessageEvent>(ws, 'message')).data).toBe('text');
    ws.send(new Uint8Array([1, 2, 3]));
    const binary = (await nextEvent<MessageEvent>(ws, 'message')).data as ArrayBuffer;
    expect([...new Uint8Array(binary)]).toEqual([1, 2, 3]);
    const serverClosed = nextEvent<CloseEvent>(accepted[0]!, 'close');
    accepted[0]!.close(4003, 'server done');
    const clientClose = await closed;
    expect([clientClose.wasClean, clientClose.code, clientClose.reason]).toEqual([true, 4003, 'server done']);
    expect((await serverClosed).code).toBe(4003);
  });

  it('wraps a WebSocketStream accepted by an http server', async () => {
    const http = createHttpServer();
    const accepted: WebSocket[] = [];
    http.on('upgrade', (request, socket, head) => {
      const ws = wrapWebSocketStream(acceptWebSocketStream(request, socket, head, ADAPTER_STREAM_OPTIONS));
      ws.onmessage = (event) => ws.send(`echo: ${String((event as MessageEvent).data)}`);
      accepted.push(ws);
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    onCleanup(() => new Promise<void>((resolve) => {
      http.closeAllConnections();
      http.close(() => resolve());
    }));
    const { ws, closed } = open(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    await nextEvent(ws, 'open');
    ws.send('hi');
    expect((await nextEvent<MessageEvent>(ws, 'message')).data).toBe('echo: hi');
    const serverClosed = nextEvent<CloseEvent>(accepted[0]!, 'close');
    ws.close(4002, 'done');
    expect((await closed).code).toBe(4002);
    const seen = await serverClosed;
    expect([seen.wasClean, seen.code, seen.reason]).toEqual([true, 4002, 'done']);
  });
});
