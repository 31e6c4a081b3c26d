// acceptWebSocketStream against the `ws` client: echo, fragments, close codes and reasons both
// ways, subprotocol selection, refused handshakes, invalid UTF-8, keepalive pongs, and the
// server's read backpressure as ws sees it (its bufferedAmount grows while we do not read).
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { acceptWebSocketStream, type WebSocketStream, type AcceptOptions } from '../src/index.js';
import { delay, withTimeout } from './helpers/timing.js';
import { startUpgradeServer, type UpgradeServer } from './helpers/upgrade-server.js';

let server: UpgradeServer | undefined;
const streams: WebSocketStream[] = [];
const wsClients: WebSocket[] = [];

afterEach(async () => {
  for (const ws of wsClients.splice(0)) ws.terminate();
  for (const wss of streams.splice(0)) wss.close();
  await server?.close();
  server = undefined;
});

async function serverWith(onStream: (wss: WebSocketStream) => unknown, options?: AcceptOptions): Promise<string> {
  server = await startUpgradeServer((request, socket, head) => {
    const wss = acceptWebSocketStream(request, socket, head, options);
    streams.push(wss);
    void Promise.resolve(onStream(wss)).catch(() => {});
  });
  return server.url;
}

async function echo(wss: WebSocketStream): Promise<void> {
  const { readable, writable } = await wss.opened;
  await readable.pipeTo(writable).catch(() => {});
}

function wsClient(url: string, protocols?: string[], options?: WebSocket.ClientOptions): WebSocket {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
  ws.on('error', () => {});
  wsClients.push(ws);
  return ws;
}

function opened(ws: WebSocket): Promise<void> {
  return withTimeout(new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  }), 5000, 'ws open');
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return withTimeout(new Promise((resolve) => ws.once('message', (data: Buffer, isBinary) => resolve({ data, isBinary }))), 5000, 'a ws message');
}

function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return withTimeout(new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))), 5000, 'ws close');
}

describe('the ws client', () => {
  it('gets text and binary echoed, fragmented and large messages included', async () => {
    const url = await serverWith(echo);
    const ws = wsClient(url);
    await opened(ws);
    ws.send('hello');
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from('hello'), isBinary: false });
    ws.send(Buffer.from([0, 1, 255]));
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from([0, 1, 255]), isBinary: true });
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted', { fin: true });
    expect((await nextMessage(ws)).data.toString()).toBe('fragmented');
    const big = Buffer.alloc(5 * 1024 * 1024, 7);
    ws.send(big);
    const echoed = await nextMessage(ws);
    expect(echoed.isBinary).toBe(true);
    expect(echoed.data.equals(big)).toBe(true);
  });

  it('selects the first of the client\'s protocols that the server speaks', async () => {
    const url = await serverWith(echo, { protocols: ['b', 'a'] });
    const ws = wsClient(url, ['a', 'b']);
    await opened(ws);
    expect(ws.protocol).toBe('a');
    expect((await streams[0]!.opened).protocol).toBe('a');
  });

  it('closing from ws: the server gets the code and reason', async () => {
    const url = await serverWith(echo);
    const ws = wsClient(url);
    await opened(ws);
    const closed = closeEvent(ws);
    ws.close(4100, 'from ws');
    await expect(streams[0]!.closed).resolves.toEqual({ closeCode: 4100, reason: 'from ws' });
    expect((await closed).code).toBe(4100);
  });

  it('closing from the server: ws gets the code and reason', async () => {
    const url = await serverWith(async (wss) => {
      await wss.opened;
      wss.close({ closeCode: 4200, reason: 'from the server' });
    });
    const ws = wsClient(url);
    const closed = closeEvent(ws);
    await opened(ws);
    expect(await closed).toEqual({ code: 4200, reason: 'from the server' });
    // ws echoes the code (and the reason) in its answering Close frame.
    await expect(streams[0]!.closed).resolves.toMatchObject({ closeCode: 4200 });
  });

  it('a refused handshake reaches ws as its HTTP status', async () => {
    const url = await serverWith(echo, { verify: () => ({ status: 401, message: 'who are you?' }) });
    const ws = wsClient(url);
    const response = await withTimeout(new Promise<{ status: number; body: string }>((resolve) => {
      ws.once('unexpected-response', (_request, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
    }), 5000, 'the refusal');
    expect(response).toEqual({ status: 401, body: 'who are you?\n' });
  });

  it('invalid UTF-8 in a text message closes with 1007', async () => {
    const url = await serverWith(echo);
    const ws = wsClient(url);
    await opened(ws);
    const closed = closeEvent(ws);
    ws.send(Buffer.from([0x68, 0xc3, 0x28]), { binary: false });
    expect((await closed).code).toBe(1007);
    await expect(streams[0]!.closed).rejects.toMatchObject({ closeCode: 1006 });
  });

  it('ws answers keepalive pings, so the connection stays', async () => {
    const url = await serverWith(echo, { keepaliveInterval: 40, keepaliveTimeout: 80 });
    const ws = wsClient(url);
    let pings = 0;
    ws.on('ping', () => pings++);
    await opened(ws);
    await delay(500);
    expect(pings).toBeGreaterThanOrEqual(5);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.send('still here');
    expect((await nextMessage(ws)).data.toString()).toBe('still here');
  });

  it('while the server does not read, ws\'s bufferedAmount grows; reading delivers all in order', async () => {
    let readable!: ReadableStream;
    const url = await serverWith(async (wss) => {
      readable = (await wss.opened).readable;
    });
    const ws = wsClient(url);
    await opened(ws);
    const chunk = Buffer.alloc(64 * 1024);
    const total = 400; // 25 MiB: more than the kernel buffers between the two can hold
    for (let i = 0; i < total; i++) {
      chunk.writeUInt32BE(i, 0);
      ws.send(Buffer.from(chunk));
    }
    await delay(500);
    // ws could not hand most of it to the kernel: our side stopped reading.
    expect(ws.bufferedAmount).toBeGreaterThan(10 * 1024 * 1024);
    const reader = readable.getReader();
    for (let i = 0; i < total; i++) {
      const { value } = await withTimeout(reader.read(), 5000, `message ${i}`);
      expect(Buffer.from(value as Uint8Array).readUInt32BE(0)).toBe(i);
    }
    expect(ws.bufferedAmount).toBe(0);
  });
});
