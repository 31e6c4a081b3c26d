// Closing as Chrome and the WPT websockets/stream tests expect, over real sockets against `ws`:
// - the peer's Close arriving while a message of ours is not completely written is not a clean
//   close (remote-close.any.js, write.any.js), and no Close of ours follows half a frame;
// - the Close we answer with echoes the peer's code AND reason (as ws and python-websockets do).
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsClient } from 'ws';
import { serve, WebSocketError, WebSocketStream, type WebSocketStreamServer } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, rejectionOf, withTimeout } from './helpers/timing.js';
import { serverClose, startWsPeer } from './helpers/ws-peer.js';

afterEach(cleanup);

/** Far more than loopback's socket buffers hold, so the write cannot be complete when the Close comes. */
const HUGE = 20 * 1024 * 1024;

function expectInvalidState(error: unknown): void {
  expect(error).toBeInstanceOf(DOMException);
  expect((error as DOMException).name).toBe('InvalidStateError');
}

async function ourServer(handler: (wss: WebSocketStream) => unknown): Promise<WebSocketStreamServer> {
  const server = await serve({ host: '127.0.0.1' }, handler);
  onCleanup(() => server.close());
  return server;
}

describe('the peer closes while a write is not completely written', () => {
  it('client: closed rejects with the peer code and reason, the write with InvalidStateError, later writes with that same object', async () => {
    const server = await startWsPeer();
    const serverSide = server.nextConnection();
    const wss = new WebSocketStream(server.url);
    onCleanup(() => wss.close());
    const { readable, writable } = await withTimeout(wss.opened, 5_000, 'opened');
    const ws = await serverSide;
    ws.pause(); // the server reads nothing: the 20 MiB stay in the client's buffers
    const writer = writable.getWriter();
    const pending = writer.write(new Uint8Array(HUGE));
    pending.catch(() => {});
    ws.close(4567, 'going');
    const seenByServer = serverClose(ws, 10_000);

    const closedError = await rejectionOf(wss.closed, 10_000);
    expect(closedError).toBeInstanceOf(WebSocketError);
    expect((closedError as WebSocketError).closeCode).toBe(4567);
    expect((closedError as WebSocketError).reason).toBe('going');
    expect((closedError as Error).message).toMatch(/peer closed the connection \(code 4567, reason "going"\) while a message was still being sent/);
    const writeError = await rejectionOf(pending);
    expectInvalidState(writeError);
    expect(await rejectionOf(writer.write('word'))).toBe(writeError);
    expect(await rejectionOf(writer.ready)).toBe(writeError);
    expect(await rejectionOf(readable.getReader().read())).toBe(closedError);

    // The rest of the frame was dropped and no Close followed it: the server reads part of a
    // frame, then the end of TCP, and reports an abnormal closure.
    ws.resume();
    expect((await seenByServer).code).toBe(1006);
  });

  it('server: the same rules when a client closes while our server still sends', async () => {
    let accepted!: WebSocketStream;
    let pending!: Promise<void>;
    let writer!: WritableStreamDefaultWriter<unknown>;
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const server = await ourServer(async (wss) => {
      accepted = wss;
      writer = (await wss.opened).writable.getWriter();
      pending = writer.write(new Uint8Array(HUGE));
      pending.catch(() => {});
      started();
    });
    const client = new WsClient(server.url);
    onCleanup(() => client.terminate());
    await once(client, 'open');
    client.pause(); // reads nothing, yet its Close goes out
    await withTimeout(ready, 5_000, 'the server write');
    client.close(4001, 'enough');

    const closedError = await rejectionOf(accepted.closed, 10_000);
    expect(closedError).toBeInstanceOf(WebSocketError);
    expect(closedError).toMatchObject({ closeCode: 4001, reason: 'enough' });
    const writeError = await rejectionOf(pending);
    expectInvalidState(writeError);
    expect(await rejectionOf(writer.write('late'))).toBe(writeError);
  });

  it('a reset while a write is pending (no Close first) says that the peer reset the connection while we were sending', async () => {
    const server = await startWsPeer();
    const serverSide = server.nextConnection();
    const wss = new WebSocketStream(server.url);
    onCleanup(() => wss.close());
    const { writable } = await withTimeout(wss.opened, 5_000, 'opened');
    const ws = await serverSide;
    ws.pause();
    const pending = writable.getWriter().write(new Uint8Array(HUGE));
    pending.catch(() => {});
    await delay(100);
    (ws as unknown as { _socket: Socket })._socket.resetAndDestroy();
    const closedError = await rejectionOf(wss.closed, 10_000);
    expect(closedError).toMatchObject({ closeCode: 1006, reason: '' });
    expect((closedError as Error).message).toMatch(/^The peer reset the connection while we were sending \((write|read) (ECONNRESET|EPIPE)\)$/);
    expectInvalidState(await rejectionOf(pending));
  });

  it('a write already taken by the kernel does not make the close unclean', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.on('message', () => ws.close(4000, 'got it')));
    const wss = new WebSocketStream(server.url);
    const { writable } = await withTimeout(wss.opened, 5_000, 'opened');
    await writable.getWriter().write(new Uint8Array(64 * 1024));
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 4000, reason: 'got it' });
  });
});

describe('the Close we answer echoes the peer code and reason', () => {
  it('our server answers a ws client with its code and reason', async () => {
    const server = await ourServer(async (wss) => {
      await wss.opened;
    });
    const client = new WsClient(server.url);
    onCleanup(() => client.terminate());
    await once(client, 'open');
    client.close(4000, 'bye');
    const [code, reason] = (await withTimeout(once(client, 'close'), 5_000, 'close')) as [number, Buffer];
    expect({ code, reason: reason.toString() }).toEqual({ code: 4000, reason: 'bye' });
  });

  it('our client answers a ws server with its code and reason', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.close(4002, 'server says bye'));
    const serverSide = server.nextConnection();
    const wss = new WebSocketStream(server.url);
    const ws = await serverSide;
    const seen = serverClose(ws);
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 4002, reason: 'server says bye' });
    expect(await seen).toEqual({ code: 4002, reason: 'server says bye' });
  });

  it('a Close without a body is still answered without one (1005 on both sides)', async () => {
    const server = await startWsPeer();
    server.wss.on('connection', (ws) => ws.close());
    const serverSide = server.nextConnection();
    const wss = new WebSocketStream(server.url);
    const seen = serverClose(await serverSide);
    expect(await withTimeout(wss.closed, 5_000, 'closed')).toEqual({ closeCode: 1005, reason: '' });
    expect(await seen).toEqual({ code: 1005, reason: '' });
  });
});
