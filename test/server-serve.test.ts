// serve(): the thin listener helper. A handler per connection, 404 off its path, 426 for plain
// HTTP, 1011 when a handler fails, and close() that says 1001 to everyone and waits for them.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { serve, WebSocketStream, type WebSocketStreamServer } from '../src/index.js';
import { delay, withTimeout } from './helpers/timing.js';
import { readAll } from './helpers/upgrade-server.js';
import { handshakeRequest, RawClient } from './helpers/raw-client.js';

let running: WebSocketStreamServer | undefined;
const streams: WebSocketStream[] = [];
const rawClients: RawClient[] = [];

afterEach(async () => {
  for (const client of rawClients.splice(0)) client.destroy();
  for (const wss of streams.splice(0)) wss.close();
  await running?.close();
  running = undefined;
});

function client(url: string): WebSocketStream {
  const wss = new WebSocketStream(url);
  streams.push(wss);
  return wss;
}

describe('serve()', () => {
  it('runs the handler for each connection after its handshake; echo works', async () => {
    const urls: string[] = [];
    running = await serve({ host: '127.0.0.1', port: 0 }, async (wss, req) => {
      urls.push(`${wss.url} ${req.headers.host ?? ''}`);
      const { readable, writable } = await wss.opened;
      await readable.pipeTo(writable).catch(() => {});
    });
    expect(running.url).toBe(`ws://127.0.0.1:${running.port}/`);
    const a = client(`${running.url}a`);
    const b = client(`${running.url}b`);
    for (const wss of [a, b]) {
      const { readable, writable } = await wss.opened;
      const writer = writable.getWriter();
      await writer.write('ping');
      expect((await readable.getReader().read()).value).toBe('ping');
    }
    expect(urls.sort()).toEqual([`${running.url}a 127.0.0.1:${running.port}`, `${running.url}b 127.0.0.1:${running.port}`]);
    expect(running.connections.size).toBe(2);
  });

  it('answers 404 off its path and 426 to plain HTTP', async () => {
    running = await serve({ host: '127.0.0.1', path: '/ws' }, () => {});
    const raw = await RawClient.connect(running.port);
    rawClients.push(raw);
    raw.write(handshakeRequest('/other'));
    const refused = await raw.readResponse();
    expect(refused.status).toBe(404);
    expect(refused.body).toMatch(/No WebSocket endpoint at "\/other"/);

    const plain = await withTimeout(new Promise<{ status: number; upgrade: string | undefined }>((resolve, reject) => {
      request({ host: '127.0.0.1', port: running!.port, path: '/ws' }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, upgrade: res.headers.upgrade });
      }).on('error', reject).end();
    }), 5000, 'the plain HTTP answer');
    expect(plain).toEqual({ status: 426, upgrade: 'websocket' });

    await client(`${running.url}ws`).opened;
  });

  it('closes with 1011 when the handler fails, and reports the error', async () => {
    const errors: unknown[] = [];
    running = await serve({ host: '127.0.0.1', onError: (error) => errors.push(error) }, async () => {
      throw new Error('handler bug');
    });
    const wss = client(running.url);
    const { readable } = await wss.opened;
    await readAll(readable);
    await expect(wss.closed).resolves.toEqual({ closeCode: 1011, reason: 'Internal error' });
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('handler bug');
  });

  it('close() sends 1001 to every connection, waits for them, and stops listening', async () => {
    running = await serve({ host: '127.0.0.1', closeTimeout: 2000 }, async (wss) => {
      await wss.opened; // a handler that never reads: close() must still finish
    });
    const clients = [client(running.url), client(running.url), client(running.url)];
    const readables = await Promise.all(clients.map(async (wss) => (await wss.opened).readable));
    await withTimeout((async () => {
      while (running!.connections.size < 3) await delay(5);
    })(), 3000, 'three connections');
    const closing = running.close();
    for (const [i, wss] of clients.entries()) {
      await readAll(readables[i]!);
      await expect(wss.closed).resolves.toEqual({ closeCode: 1001, reason: 'Server is shutting down' });
    }
    await withTimeout(closing, 3000, 'close() to resolve');
    expect(running.connections.size).toBe(0);
    const late = new WebSocketStream(running.url);
    await expect(late.opened).rejects.toThrow(/ECONNREFUSED|Connection failed/);
    running = undefined;
  });

  it('rejects bad arguments with a TypeError', async () => {
    await expect(serve({ port: -1 }, () => {})).rejects.toThrow(TypeError);
    await expect(serve({ path: 'no-slash' }, () => {})).rejects.toThrow(TypeError);
    await expect(serve({}, undefined as never)).rejects.toThrow(TypeError);
    await expect(serve({ maxPayload: 0 }, () => {})).rejects.toThrow(/maxPayload must be a positive finite number/);
  });
});
