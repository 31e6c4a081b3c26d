// The server's opening handshake, driven byte by byte from a raw TCP client: every malformed
// request gets the right status and a body naming the problem, the hooks (verify, protocols,
// headers) shape the answer, and the timeouts and abort signal bound it.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptWebSocketStream, WebSocketError, type WebSocketStream, type AcceptOptions } from '../src/index.js';
import { checkUpgradeRequest } from '../src/server/request.js';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import { delay, withTimeout } from './helpers/timing.js';
import { startUpgradeServer, type UpgradeServer } from './helpers/upgrade-server.js';
import { clientFrame, handshakeRequest, RawClient } from './helpers/raw-client.js';

let server: UpgradeServer | undefined;
const clients: RawClient[] = [];
const accepted: WebSocketStream[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
  for (const wss of accepted.splice(0)) wss.close();
  await server?.close();
  server = undefined;
});

/** A server that accepts every upgrade with `options` and records the stream. */
async function acceptingServer(options?: AcceptOptions | (() => AcceptOptions)): Promise<UpgradeServer> {
  server = await startUpgradeServer((request, socket, head) => {
    accepted.push(acceptWebSocketStream(request, socket, head, typeof options === 'function' ? options() : options));
  });
  return server;
}

async function send(request: string): Promise<{ client: RawClient; status: number; headers: Record<string, string>; body: string }> {
  const client = await RawClient.connect(server!.port);
  clients.push(client);
  client.write(request);
  const response = await client.readResponse();
  return { client, ...response };
}

async function nextAccepted(): Promise<WebSocketStream> {
  for (let i = 0; i < 100 && accepted.length === 0; i++) await delay(10);
  const wss = accepted.at(-1);
  if (wss === undefined) throw new Error('no upgrade reached the server');
  return wss;
}

function accept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

describe('request validation', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['a POST', handshakeRequest('/', {}, 'POST / HTTP/1.1'), 400, /must be a GET request, not "POST"/],
    ['HTTP/1.0', handshakeRequest('/', {}, 'GET / HTTP/1.0'), 400, /HTTP\/1\.1 or later, not HTTP\/1\.0/],
    ['Upgrade: h2c', handshakeRequest('/', { Upgrade: 'h2c' }), 400, /Upgrade header must name "websocket"; got "h2c"/],
    ['no Sec-WebSocket-Key', handshakeRequest('/', { 'Sec-WebSocket-Key': null }), 400, /Sec-WebSocket-Key header must be 16 bytes in base64; got none/],
    ['a 15-byte key', handshakeRequest('/', { 'Sec-WebSocket-Key': Buffer.alloc(15, 1).toString('base64') }), 400, /16 bytes in base64; got "AQEBAQEBAQEBAQEBAQEB"/],
    ['a key that is not base64', handshakeRequest('/', { 'Sec-WebSocket-Key': 'not base64 at all, sorry!' }), 400, /16 bytes in base64/],
    ['a bad subprotocol', handshakeRequest('/', { 'Sec-WebSocket-Protocol': 'chat, bad/name' }), 400, /Invalid subprotocol "bad\/name"/],
  ];
  for (const [what, request, status, message] of cases) {
    it(`answers ${what} with ${status}, a body saying why, then closes; opened rejects`, async () => {
      await acceptingServer();
      const response = await send(request);
      expect(response.status).toBe(status);
      expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(response.headers.connection).toBe('close');
      expect(response.body).toMatch(message);
      await response.client.waitForEnd();
      const wss = await nextAccepted();
      const error = await wss.opened.then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(WebSocketError);
      expect((error as WebSocketError).closeCode).toBeNull(); // no connection was established
      expect((error as WebSocketError).message).toMatch(message);
      await expect(wss.closed).rejects.toMatchObject({ closeCode: 1006 });
    });
  }

  it('answers a wrong Sec-WebSocket-Version with 426 and Sec-WebSocket-Version: 13', async () => {
    await acceptingServer();
    for (const version of ['8', null]) {
      const response = await send(handshakeRequest('/', { 'Sec-WebSocket-Version': version }));
      expect(response.status).toBe(426);
      expect(response.headers['sec-websocket-version']).toBe('13');
      expect(response.body).toMatch(version === null ? /Unsupported Sec-WebSocket-Version none/ : /Unsupported Sec-WebSocket-Version "8"/);
    }
  });

  it('accepts list-valued Upgrade and Connection headers in any case', async () => {
    await acceptingServer();
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const response = await send(handshakeRequest('/', { Upgrade: 'WebSocket', Connection: 'keep-alive, UPGRADE', 'Sec-WebSocket-Key': key }));
    expect(response.status).toBe(101);
    // RFC 6455 1.3's own example.
    expect(response.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(response.headers['sec-websocket-accept']).toBe(accept(key));
    expect(response.headers.upgrade).toBe('websocket');
    expect(response.headers.connection).toBe('Upgrade');
    expect(response.headers['sec-websocket-protocol']).toBeUndefined();
    expect(response.headers['sec-websocket-extensions']).toBeUndefined();
    await (await nextAccepted()).opened;
  });

  it('quotes at most 80 characters of a hostile header back', async () => {
    await acceptingServer();
    const response = await send(handshakeRequest('/', { Upgrade: 'x'.repeat(5000) }));
    expect(response.status).toBe(400);
    expect(response.body.length).toBeLessThan(200);
  });
});

describe('checkUpgradeRequest (requests Node routes to \'request\', not \'upgrade\')', () => {
  const valid = {
    method: 'GET',
    httpVersionMajor: 1,
    httpVersionMinor: 1,
    headers: { host: 'h', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
  };

  it('refuses a request without Connection: upgrade or Host', () => {
    expect(checkUpgradeRequest({ ...valid, headers: { ...valid.headers, connection: 'keep-alive' } }))
      .toMatchObject({ ok: false, status: 400, message: 'The Connection header must include "Upgrade"; got "keep-alive"' });
    expect(checkUpgradeRequest({ ...valid, headers: { ...valid.headers, host: undefined } }))
      .toMatchObject({ ok: false, status: 400, message: 'The Host header is missing' });
  });

  it('accepts the valid request and lists the offered protocols', () => {
    expect(checkUpgradeRequest({ ...valid, headers: { ...valid.headers, 'sec-websocket-protocol': 'a, b' } }))
      .toEqual({ ok: true, key: 'dGhlIHNhbXBsZSBub25jZQ==', protocols: ['a', 'b'] });
  });
});

describe('subprotocols', () => {
  it('picks the first protocol in the client\'s order that the server speaks', async () => {
    await acceptingServer({ protocols: ['v1', 'v2', 'v3'] });
    const response = await send(handshakeRequest('/', { 'Sec-WebSocket-Protocol': 'x, v3, v1' }));
    expect(response.headers['sec-websocket-protocol']).toBe('v3');
    expect((await (await nextAccepted()).opened).protocol).toBe('v3');
  });

  it('selects none when nothing matches (no header at all)', async () => {
    await acceptingServer({ protocols: ['v1'] });
    const response = await send(handshakeRequest('/', { 'Sec-WebSocket-Protocol': 'x, y' }));
    expect(response.status).toBe(101);
    expect(response.headers['sec-websocket-protocol']).toBeUndefined();
    expect((await (await nextAccepted()).opened).protocol).toBe('');
  });

  it('lets a function choose, sync or async, and gets the request', async () => {
    const seen: Array<[string[], string | undefined]> = [];
    await acceptingServer({
      protocols: async (offered, request) => {
        seen.push([offered, request.url]);
        await delay(5);
        return offered.at(-1);
      },
    });
    const response = await send(handshakeRequest('/room?id=7', { 'Sec-WebSocket-Protocol': 'a,b , c' }));
    expect(response.headers['sec-websocket-protocol']).toBe('c');
    expect(seen).toEqual([[['a', 'b', 'c'], '/room?id=7']]);
  });

  it('refuses with 500 when the function returns a protocol the client did not offer', async () => {
    await acceptingServer({ protocols: () => 'zzz' });
    const response = await send(handshakeRequest('/', { 'Sec-WebSocket-Protocol': 'a' }));
    expect(response.status).toBe(500);
    expect(response.body).toBe('Internal Server Error\n');
    await expect((await nextAccepted()).opened).rejects.toThrow(/returned "zzz", which the client did not offer/);
  });

  it('rejects invalid protocol lists with a TypeError, answering the client 500', async () => {
    let thrown: unknown;
    server = await startUpgradeServer((request, socket, head) => {
      try {
        acceptWebSocketStream(request, socket, head, { protocols: ['ok', 'not ok'] });
      } catch (error) {
        thrown = error;
      }
    });
    const response = await send(handshakeRequest('/'));
    expect(response.status).toBe(500);
    expect(thrown).toBeInstanceOf(TypeError);
    expect((thrown as Error).message).toMatch(/Invalid subprotocol "not ok"/);
  });
});

describe('response headers', () => {
  it('adds the headers option to the 101, repeated names included', async () => {
    await acceptingServer({ headers: [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['X-Server', 'test']] });
    const response = await send(handshakeRequest('/'));
    expect(response.status).toBe(101);
    expect(response.headers['set-cookie']).toBe('a=1, b=2');
    expect(response.headers['x-server']).toBe('test');
  });

  for (const [headers, message] of [
    [{ 'Sec-WebSocket-Accept': 'x' }, /Sec-WebSocket-Accept header is set by the WebSocket handshake/],
    [{ 'Bad Name': 'x' }, /Invalid header name "Bad Name"/],
    [{ 'X-Evil': 'a\r\nInjected: yes' }, /Invalid value for header X-Evil/],
  ] as const) {
    it(`throws a TypeError for ${JSON.stringify(headers)} and answers 500`, async () => {
      let thrown: unknown;
      server = await startUpgradeServer((request, socket, head) => {
        try {
          acceptWebSocketStream(request, socket, head, { headers });
        } catch (error) {
          thrown = error;
        }
      });
      const response = await send(handshakeRequest('/'));
      expect(response.status).toBe(500);
      expect(response.headers.injected).toBeUndefined();
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(message);
    });
  }
});

describe('verify hook', () => {
  it('gets the request and accepts when it returns nothing or true', async () => {
    const origins: Array<string | undefined> = [];
    await acceptingServer({ verify: (request) => void origins.push(request.headers.origin) });
    expect((await send(handshakeRequest('/', { Origin: 'https://app.example' }))).status).toBe(101);
    await acceptingServerAgain({ verify: async () => true });
    expect((await send(handshakeRequest('/'))).status).toBe(101);
    expect(origins).toEqual(['https://app.example']);
  });

  it('refuses with 403 on false', async () => {
    await acceptingServer({ verify: (request) => request.headers.origin === 'https://good.example' });
    const response = await send(handshakeRequest('/', { Origin: 'https://evil.example' }));
    expect(response.status).toBe(403);
    expect(response.body).toBe('Forbidden\n');
    await expect((await nextAccepted()).opened).rejects.toThrow(/refused by verify with 403 Forbidden/);
    expect((await send(handshakeRequest('/', { Origin: 'https://good.example' }))).status).toBe(101);
  });

  it('refuses with the status, message and headers it returns (async)', async () => {
    await acceptingServer({
      verify: async (request) => {
        await delay(5);
        if (request.headers.authorization !== 'Bearer sesame') {
          return { status: 401, message: 'A bearer token is required', headers: { 'WWW-Authenticate': 'Bearer realm="chat"' } };
        }
        return undefined;
      },
    });
    const refused = await send(handshakeRequest('/'));
    expect(refused.status).toBe(401);
    expect(refused.body).toBe('A bearer token is required\n');
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="chat"');
    await refused.client.waitForEnd();
    await expect((await nextAccepted()).opened).rejects.toThrow(/refused by verify with 401 Unauthorized: A bearer token is required/);
    expect((await send(handshakeRequest('/', { Authorization: 'Bearer sesame' }))).status).toBe(101);
  });

  it('answers 500 when verify throws, and keeps the error message on the server', async () => {
    await acceptingServer({ verify: () => { throw new Error('database is down'); } });
    const response = await send(handshakeRequest('/'));
    expect(response.status).toBe(500);
    expect(response.body).not.toMatch(/database/);
    await expect((await nextAccepted()).opened).rejects.toThrow(/500 Internal Server Error: database is down/);
  });

  it('answers 500 when verify returns something meaningless', async () => {
    await acceptingServer({ verify: () => ({ status: 200 }) });
    const response = await send(handshakeRequest('/'));
    expect(response.status).toBe(500);
    await expect((await nextAccepted()).opened).rejects.toThrow(/status 200: it must be an integer in 300-599/);
  });

  it('is not called for a malformed request', async () => {
    let calls = 0;
    await acceptingServer({ verify: () => void calls++ });
    expect((await send(handshakeRequest('/', { 'Sec-WebSocket-Key': null }))).status).toBe(400);
    expect(calls).toBe(0);
  });
});

describe('timeouts and aborting', () => {
  it('answers 503 when verify does not settle within handshakeTimeout', async () => {
    await acceptingServer({ handshakeTimeout: 200, verify: () => new Promise(() => {}) });
    const started = Date.now();
    const response = await send(handshakeRequest('/'));
    expect(response.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await expect((await nextAccepted()).opened).rejects.toThrow(/timed out after 200 ms/);
  });

  it('answers 503 and rejects with signal.reason when the signal aborts during the handshake', async () => {
    const controller = new AbortController();
    await acceptingServer({ signal: controller.signal, verify: () => new Promise(() => {}) });
    const client = await RawClient.connect(server!.port);
    clients.push(client);
    client.write(handshakeRequest('/'));
    const wss = await nextAccepted();
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect((await client.readResponse()).status).toBe(503);
    await expect(wss.opened).rejects.toBe(reason);
    await expect(wss.closed).rejects.toBe(reason);
  });

  it('answers 503 when the signal is already aborted', async () => {
    const reason = new Error('no');
    await acceptingServer({ signal: AbortSignal.abort(reason) });
    const response = await send(handshakeRequest('/'));
    expect(response.status).toBe(503);
    await expect((await nextAccepted()).opened).rejects.toBe(reason);
  });

  it('answers 503 when close() is called before the handshake completed', async () => {
    await acceptingServer({ verify: () => new Promise(() => {}) });
    const client = await RawClient.connect(server!.port);
    clients.push(client);
    client.write(handshakeRequest('/'));
    const wss = await nextAccepted();
    wss.close();
    expect((await client.readResponse()).status).toBe(503);
    await expect(wss.opened).rejects.toBeInstanceOf(WebSocketError);
  });

  // The socket is not read during verify (its first frames must wait for the readable's demand),
  // so the hang-up is seen when the 101 is written or the stream starts reading: closed rejects.
  it('ends unclean (1006), without hanging, when the client hangs up during verify', async () => {
    let release!: () => void;
    await acceptingServer({ verify: () => new Promise<void>((resolve) => { release = resolve; }) });
    const client = await RawClient.connect(server!.port);
    client.write(handshakeRequest('/'));
    const wss = await nextAccepted();
    client.destroy();
    await client.closed;
    await delay(50);
    release();
    const error = await withTimeout(wss.closed.then(() => null, (e: unknown) => e), 3000, 'closed to settle');
    expect(error).toBeInstanceOf(WebSocketError);
    expect((error as WebSocketError).closeCode).toBe(1006);
  });
});

describe('arguments', () => {
  it('throws a TypeError for a socket that is not a net.Socket', () => {
    expect(() => acceptWebSocketStream({ headers: {} } as IncomingMessage, {} as Duplex, Buffer.alloc(0))).toThrow(TypeError);
  });

  it('throws a TypeError for bad option values and still answers the client', async () => {
    const thrown: unknown[] = [];
    server = await startUpgradeServer((request, socket, head) => {
      try {
        acceptWebSocketStream(request, socket, head, { keepaliveInterval: -1 });
      } catch (error) {
        thrown.push(error);
      }
    });
    expect((await send(handshakeRequest('/'))).status).toBe(500);
    expect(thrown[0]).toBeInstanceOf(TypeError);
    expect((thrown[0] as Error).message).toMatch(/keepaliveInterval must be a positive finite number/);
  });
});

describe('url', () => {
  it('is ws:// + Host + request target', async () => {
    await acceptingServer();
    await send(handshakeRequest('/chat?room=1', { Host: 'example.com:8080' }));
    expect((await nextAccepted()).url).toBe('ws://example.com:8080/chat?room=1');
  });

  it('falls back to the local address when Host is not a plain authority', async () => {
    await acceptingServer();
    await send(handshakeRequest('/p', { Host: 'evil.example/x?' }));
    expect((await nextAccepted()).url).toBe(`ws://127.0.0.1:${server!.port}/p`);
  });
});

/** Replaces the running server (for a test that needs two configurations). */
async function acceptingServerAgain(options: AcceptOptions): Promise<void> {
  await server?.close();
  await acceptingServer(options);
}

describe('permessage-deflate', () => {
  const offer = (value: string) => handshakeRequest('/', { 'Sec-WebSocket-Extensions': value });

  it('is off unless configured: an offer gets no answer', async () => {
    await acceptingServer();
    const response = await send(offer('permessage-deflate; client_max_window_bits'));
    expect(response.status).toBe(101);
    expect(response.headers['sec-websocket-extensions']).toBeUndefined();
    expect((await (await nextAccepted()).opened).extensions).toBe('');
  });

  it('answers Chrome\'s offer and reports the answer as extensions', async () => {
    await acceptingServer({ perMessageDeflate: true });
    const response = await send(offer('permessage-deflate; client_max_window_bits'));
    expect(response.status).toBe(101);
    expect(response.headers['sec-websocket-extensions']).toBe('permessage-deflate');
    expect((await (await nextAccepted()).opened).extensions).toBe('permessage-deflate');
  });

  it('declines broken offers and accepts the next one; applies its policy', async () => {
    await acceptingServer({ perMessageDeflate: { serverMaxWindowBits: 11, clientNoContextTakeover: true } });
    const response = await send(offer('permessage-deflate; bogus, permessage-deflate; server_max_window_bits=99, permessage-deflate; client_max_window_bits'));
    expect(response.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_no_context_takeover; server_max_window_bits=11');
  });

  it('answers a malformed Sec-WebSocket-Extensions with 400 naming the problem', async () => {
    await acceptingServer({ perMessageDeflate: true });
    const response = await send(offer('permessage-deflate; ="x"'));
    expect(response.status).toBe(400);
    expect(response.body).toMatch(/Invalid Sec-WebSocket-Extensions header/);
  });

  it('rejects bad options with a TypeError', async () => {
    expect(() => acceptWebSocketStream({ headers: {} } as IncomingMessage, {} as Duplex, undefined, { perMessageDeflate: { serverMaxWindowBits: 8 } })).toThrow(TypeError);
  });

  it('RSV1 on a control frame from the client -> 1002; RSV1 without agreement -> 1002', async () => {
    for (const [deflate, bytes] of [
      [true, (() => { const f = clientFrame(0x9, 'x'); f[0] = f[0]! | 0x40; return f; })()],
      [false, (() => { const f = clientFrame(0x1, Buffer.from([0x4b, 0x04, 0x00])); f[0] = f[0]! | 0x40; return f; })()],
    ] as const) {
      await server?.close();
      await acceptingServer({ perMessageDeflate: deflate });
      const { client, status } = await send(offer('permessage-deflate'));
      expect(status).toBe(101);
      const wss = await nextAccepted();
      const { readable } = await wss.opened;
      void readable.getReader().read().catch(() => {});
      client.write(bytes);
      const close = await client.readFrame();
      expect(close.opcode).toBe(0x8);
      expect(close.payload.readUInt16BE(0)).toBe(1002);
      accepted.length = 0;
    }
  });

  it('inflates a compressed message from the client', async () => {
    await acceptingServer({ perMessageDeflate: true });
    const { client } = await send(offer('permessage-deflate'));
    const wss = await nextAccepted();
    const { readable } = await wss.opened;
    const packed = deflateRawSync(Buffer.from('hello hello hello'), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const f = clientFrame(0x1, packed.subarray(0, packed.length - 4));
    f[0] = f[0]! | 0x40;
    client.write(f);
    expect((await withTimeout(readable.getReader().read(), 1000, 'read')).value).toBe('hello hello hello');
  });
});
