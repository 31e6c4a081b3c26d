// permessage-deflate between Chromium (its native WebSocket and WebSocketStream) and our server:
// Chromium offers "permessage-deflate; client_max_window_bits" on every connection; our server,
// configured for it, accepts. Text and binary, compressible and random, small and 16 MiB, each
// echoed twice (the second reuses both compression contexts), compared in the page.
// The code passed to page.evaluate() runs in the page: it must be self-contained.
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocketStream } from '../../src/index.js';
import { launchChromium, startPageServer, type Browser, type PageServer } from './chromium-harness.js';

let browser: Browser;
let server: PageServer | undefined;
/** Bytes our server read from each connection's socket: proof that the data was compressed. */
const socketsRead: Socket[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  for (const wss of server?.accepted ?? []) wss.close();
  await server?.close();
  server = undefined;
  socketsRead.length = 0;
});

async function echo(wss: WebSocketStream): Promise<void> {
  const { readable, writable } = await wss.opened;
  await readable.pipeTo(writable).catch(() => {});
}

async function open(): Promise<string> {
  server = await startPageServer(echo, () => ({ perMessageDeflate: true, maxPayload: 64 * 1024 * 1024 }));
  server.server.on('upgrade', (_request, socket: Socket) => socketsRead.push(socket));
  await browser.page.goto(server.pageUrl);
  return server.url;
}

const CASES = [
  ['compressible text, small', 'text', 'json', 2000],
  ['random text, small', 'text', 'random', 2000],
  ['compressible binary, small', 'binary', 'json', 3000],
  ['random binary, small', 'binary', 'random', 3000],
  ['compressible text, 16 MiB', 'text', 'json', 16 * 1024 * 1024],
  ['random binary, 16 MiB', 'binary', 'random', 16 * 1024 * 1024],
  ['compressible binary, 16 MiB', 'binary', 'json', 16 * 1024 * 1024],
  ['random text, 16 MiB', 'text', 'random', 16 * 1024 * 1024],
] as const;

type Case = { kind: 'text' | 'binary'; data: 'json' | 'random'; size: number };

/** Runs in the page: builds the payload. */
const MAKE = `(${String((c: Case): string | Uint8Array => {
  let text = '';
  if (c.data === 'json') {
    const parts: string[] = [];
    let length = 0;
    for (let i = 0; length < c.size; i++) {
      const item = JSON.stringify({ id: i, name: 'item ' + i, price: i * 1.5, tags: ['a', 'b'] });
      parts.push(item);
      length += item.length;
    }
    text = parts.join('').slice(0, c.size);
  } else {
    const bytes = new Uint8Array(c.size);
    for (let offset = 0; offset < bytes.length; offset += 65536) crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
    if (c.kind === 'binary') return bytes;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const chars = new Array<string>(c.size);
    for (let i = 0; i < c.size; i++) chars[i] = alphabet[bytes[i]! & 63]!;
    text = chars.join('');
  }
  return c.kind === 'text' ? text : new TextEncoder().encode(text);
})})`;

for (const api of ['WebSocket', 'WebSocketStream'] as const) {
  describe(`Chromium ${api} with permessage-deflate`, () => {
    for (const [name, kind, data, size] of CASES) {
      it(`echoes ${name}, twice`, async () => {
        const url = await open();
        const result = await browser.page.evaluate(async ({ url, api, c, make }) => {
          // biome-ignore lint/security/noGlobalEval: the payload builder travels into the page as source text
          const build = (0, eval)(make) as (c: unknown) => string | Uint8Array;
          const payload = build(c);
          const same = (a: unknown): boolean => {
            if (typeof payload === 'string') return a === payload;
            const b = new Uint8Array(a as ArrayBuffer);
            if (b.length !== payload.length) return false;
            for (let i = 0; i < b.length; i++) if (b[i] !== payload[i]) return false;
            return true;
          };
          const oks: boolean[] = [];
          let extensions = '';
          if (api === 'WebSocket') {
            const ws = new WebSocket(url);
            ws.binaryType = 'arraybuffer';
            await new Promise((resolve, reject) => {
              ws.onopen = resolve;
              ws.onerror = () => reject(new Error('WebSocket error'));
            });
            extensions = ws.extensions;
            for (let round = 0; round < 2; round++) {
              const message = new Promise<unknown>((resolve) => (ws.onmessage = (event) => resolve(event.data)));
              ws.send(payload);
              oks.push(same(await message));
            }
            ws.close(1000);
          } else {
            const Wss = (globalThis as unknown as { WebSocketStream: new (u: string) => WebSocketStream }).WebSocketStream;
            const wss = new Wss(url);
            const opened = await wss.opened;
            extensions = opened.extensions;
            const reader = opened.readable.getReader();
            const writer = opened.writable.getWriter();
            for (let round = 0; round < 2; round++) {
              await writer.write(payload);
              const { value } = await reader.read();
              oks.push(same(value));
            }
            wss.close({ closeCode: 1000 });
            await wss.closed;
          }
          return { oks, extensions };
        }, { url, api, c: { kind, data, size }, make: MAKE });
        expect(result).toEqual({ oks: [true, true], extensions: 'permessage-deflate' });
        expect(await server!.accepted[0]!.opened.then((o) => o.extensions)).toBe('permessage-deflate');
        if (data === 'json' && size > 1_000_000) {
          // Two 16 MiB JSON-like messages came in: far fewer bytes than that crossed the socket.
          expect(socketsRead[0]!.bytesRead).toBeLessThan(size / 2);
        }
      }, 120_000);
    }
  });
}
