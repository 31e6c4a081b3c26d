// A failure of the library's own after a successful opening handshake (while it builds the
// connection and the streams) fails the connection: `opened` and `closed` reject with a
// WebSocketError whose cause is the exception, the socket is closed, nothing stays pending and
// nothing crashes the process. Real handshakes over loopback against `ws`, and our server.
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as WsClient } from 'ws';
import { acceptWebSocketStream, WebSocketError, WebSocketStream } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { rejectionOf, withTimeout } from './helpers/timing.js';
import { serverClose, startWsPeer } from './helpers/ws-peer.js';

afterEach(cleanup);

function expectSetUpFailure(error: unknown, closeCode: number | null, cause: RegExp): void {
  expect(error).toBeInstanceOf(WebSocketError);
  expect((error as WebSocketError).closeCode).toBe(closeCode);
  expect((error as Error).message).toMatch(/^The connection could not be set up: /);
  expect((error as Error).cause).toBeInstanceOf(Error);
  expect(((error as Error).cause as Error).message).toMatch(cause);
}

describe('a failure while setting up an opened connection', () => {
  it('client: a createConnection stream whose setNoDelay throws fails the connection', async () => {
    const server = await startWsPeer();
    const serverSide = server.nextConnection();
    let stream: Socket | null = null;
    // A socket-like stream (say, a wrapper over another transport) that refuses a TCP option.
    const createConnection = () => {
      stream = netConnect(server.port, '127.0.0.1');
      stream.setNoDelay = () => {
        throw new Error('setNoDelay is not supported by this transport');
      };
      return stream;
    };
    const wss = new WebSocketStream(server.url, { createConnection });
    const opened = await rejectionOf(wss.opened, 5_000, 'opened to reject');
    expectSetUpFailure(opened, null, /setNoDelay is not supported/);
    expectSetUpFailure(await rejectionOf(wss.closed), 1006, /setNoDelay is not supported/);
    // The server had its handshake; the connection is then dropped, not left open.
    expect((await serverClose(await serverSide)).code).toBe(1006);
    expect(stream!.destroyed).toBe(true);
  });

  it('client: a readableStrategy the streams refuse rejects opened instead of leaving it pending', async () => {
    const server = await startWsPeer();
    const serverSide = server.nextConnection();
    const wss = new WebSocketStream(server.url, { readableStrategy: { highWaterMark: -1 } });
    expectSetUpFailure(await rejectionOf(wss.opened, 5_000, 'opened to reject'), null, /highWaterMark/);
    expectSetUpFailure(await rejectionOf(wss.closed), 1006, /highWaterMark/);
    expect((await serverClose(await serverSide)).code).toBe(1006);
    wss.close(); // nothing left to close: does nothing
  });

  it('server: the same for an accepted connection; the client sees the connection drop', async () => {
    const httpServer = createHttpServer();
    const accepted: WebSocketStream[] = [];
    httpServer.on('upgrade', (request, socket, head) => {
      accepted.push(acceptWebSocketStream(request, socket, head, { writableStrategy: { highWaterMark: Number.NaN } }));
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    onCleanup(() => new Promise<void>((resolve) => { httpServer.closeAllConnections(); httpServer.close(() => resolve()); }));
    const client = new WsClient(`ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/`);
    client.on('error', () => {});
    const [code] = await withTimeout(once(client, 'close'), 5_000, 'the client to see the end') as [number];
    expect(code).toBe(1006);
    expectSetUpFailure(await rejectionOf(accepted[0]!.opened), null, /highWaterMark/);
    expectSetUpFailure(await rejectionOf(accepted[0]!.closed), 1006, /highWaterMark/);
  });
});
