// Our server against Chromium (Debian's package, driven by playwright-core): the classic WebSocket
// and the native WebSocketStream. Echo, close codes and reasons both ways, subprotocol selection,
// refused handshakes, and backpressure both ways with WebSocketStream.
// The code passed to page.evaluate() runs in the page: it must be self-contained.
import type { IncomingMessage } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AcceptOptions, WebSocketStream } from '../../src/index.js';
import { delay, withTimeout } from '../helpers/timing.js';
import { launchChromium, startPageServer, type Browser, type PageServer } from './chromium-harness.js';

/** The page's own WebSocketStream (Chromium's), for the type checker: same interface as ours. */
interface PageGlobals {
  WebSocketStream: new (url: string, options?: { protocols?: string[] }) => WebSocketStream;
}

let browser: Browser;
let server: PageServer | undefined;

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
});

async function open(
  onStream: (wss: WebSocketStream, request: IncomingMessage) => unknown,
  options?: (request: IncomingMessage) => AcceptOptions,
): Promise<{ wsUrl: string }> {
  server = await startPageServer(onStream, options);
  await browser.page.goto(server.pageUrl);
  return { wsUrl: server.url };
}

async function echo(wss: WebSocketStream): Promise<void> {
  const { readable, writable } = await wss.opened;
  await readable.pipeTo(writable).catch(() => {});
}

describe('Chromium classic WebSocket', () => {
  it('echoes text and binary', async () => {
    const { wsUrl } = await open(echo);
    const result = await browser.page.evaluate(async (url) => {
      const ws = new WebSocket(`${url}/echo`);
      ws.binaryType = 'arraybuffer';
      const received: unknown[] = [];
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      const done = new Promise<void>((resolve) => {
        ws.onmessage = (event) => {
          received.push(typeof event.data === 'string' ? event.data : Array.from(new Uint8Array(event.data as ArrayBuffer)));
          if (received.length === 3) resolve();
        };
      });
      ws.send('héllo 😀');
      ws.send(new Uint8Array([0, 1, 254, 255]));
      ws.send(new Uint8Array(70_000).fill(9));
      await done;
      ws.close(1000);
      const third = received[2] as number[];
      return [received[0], received[1], third.length, third.every((b) => b === 9)];
    }, wsUrl);
    expect(result).toEqual(['héllo 😀', [0, 1, 254, 255], 70_000, true]);
  });

  it('closes with a code and reason in both directions', async () => {
    const { wsUrl } = await open(async (wss, request) => {
      await wss.opened;
      if (request.url === '/server-closes') wss.close({ closeCode: 4001, reason: 'server bye' });
    });
    const fromServer = await browser.page.evaluate(async (url) => {
      const ws = new WebSocket(`${url}/server-closes`);
      return new Promise((resolve) => {
        ws.onclose = (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
      });
    }, wsUrl);
    expect(fromServer).toEqual({ code: 4001, reason: 'server bye', wasClean: true });

    const fromPage = await browser.page.evaluate(async (url) => {
      const ws = new WebSocket(`${url}/page-closes`);
      await new Promise((resolve) => (ws.onopen = resolve));
      ws.close(4002, 'page bye');
      return new Promise((resolve) => {
        ws.onclose = (event) => resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
      });
    }, wsUrl);
    // Our Close echoes the page's code and reason, which Chrome then reports (as against ws).
    expect(fromPage).toEqual({ code: 4002, reason: 'page bye', wasClean: true });
    await expect(server!.accepted[1]!.closed).resolves.toEqual({ closeCode: 4002, reason: 'page bye' });
  });

  it('gets the subprotocol chosen in its own order of preference', async () => {
    const { wsUrl } = await open(echo, () => ({ protocols: ['chat', 'superchat'] }));
    const protocol = await browser.page.evaluate(async (url) => {
      const ws = new WebSocket(url, ['superchat', 'chat']);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      ws.close();
      return ws.protocol;
    }, wsUrl);
    expect(protocol).toBe('superchat');
  });

  it('fails when the server selects no subprotocol although the page asked for one', async () => {
    // RFC 6455 lets the server answer without one; Chromium then fails the connection.
    const { wsUrl } = await open(echo, () => ({ protocols: ['other'] }));
    const outcome = await browser.page.evaluate(async (url) => {
      const ws = new WebSocket(url, ['chat']);
      return new Promise((resolve) => {
        let error = false;
        ws.onerror = () => (error = true);
        ws.onclose = (event) => resolve({ error, code: event.code, wasClean: event.wasClean });
      });
    }, wsUrl);
    expect(outcome).toEqual({ error: true, code: 1006, wasClean: false });
  });

  it('sees a refused handshake as error + close 1006', async () => {
    const { wsUrl } = await open(echo, () => ({ verify: (request) => request.headers.origin === 'https://nowhere.example' }));
    const outcome = await browser.page.evaluate(async (url) => {
      const ws = new WebSocket(url);
      return new Promise((resolve) => {
        let error = false;
        ws.onerror = () => (error = true);
        ws.onclose = (event) => resolve({ error, code: event.code, wasClean: event.wasClean });
      });
    }, wsUrl);
    expect(outcome).toEqual({ error: true, code: 1006, wasClean: false });
    await expect(server!.accepted[0]!.opened).rejects.toThrow(/403 Forbidden/);
  });
});

describe('Chromium WebSocketStream', () => {
  it('echoes text and binary', async () => {
    const { wsUrl } = await open(echo);
    const result = await browser.page.evaluate(async (url) => {
      const wss = new (globalThis as unknown as PageGlobals).WebSocketStream(url);
      const { readable, writable } = await wss.opened;
      const writer = writable.getWriter();
      const reader = readable.getReader();
      await writer.write('text ✓');
      await writer.write(new Uint8Array([1, 2, 3]));
      const first = (await reader.read()).value;
      const second = (await reader.read()).value as ArrayBuffer | Uint8Array;
      wss.close({ closeCode: 1000 });
      return [first, Array.from(new Uint8Array(second instanceof ArrayBuffer ? second : second.buffer))];
    }, wsUrl);
    expect(result).toEqual(['text ✓', [1, 2, 3]]);
  });

  it('closes with a code and reason in both directions', async () => {
    const { wsUrl } = await open(async (wss, request) => {
      await wss.opened;
      if (request.url === '/server-closes') wss.close({ closeCode: 4003, reason: 'server stream bye' });
    });
    const fromServer = await browser.page.evaluate(async (url) => {
      const wss = new (globalThis as unknown as PageGlobals).WebSocketStream(`${url}/server-closes`);
      await wss.opened;
      return wss.closed;
    }, wsUrl);
    expect(fromServer).toEqual({ closeCode: 4003, reason: 'server stream bye' });

    const fromPage = await browser.page.evaluate(async (url) => {
      const wss = new (globalThis as unknown as PageGlobals).WebSocketStream(`${url}/page-closes`);
      await wss.opened;
      wss.close({ closeCode: 4004, reason: 'page stream bye' });
      return wss.closed;
    }, wsUrl);
    expect(fromPage).toEqual({ closeCode: 4004, reason: 'page stream bye' });
    await expect(server!.accepted[1]!.closed).resolves.toEqual({ closeCode: 4004, reason: 'page stream bye' });
  });

  it('gets the subprotocol chosen by a server function', async () => {
    const { wsUrl } = await open(echo, () => ({ protocols: (offered) => offered.find((p) => p.startsWith('v2')) }));
    const protocol = await browser.page.evaluate(async (url) => {
      const wss = new (globalThis as unknown as PageGlobals).WebSocketStream(url, { protocols: ['v1', 'v2.json', 'v2.cbor'] });
      const { protocol } = await wss.opened;
      wss.close();
      return protocol;
    }, wsUrl);
    expect(protocol).toBe('v2.json');
  });

  it('sees a refused handshake: opened rejects, closed rejects with 1006', async () => {
    const { wsUrl } = await open(echo, () => ({ verify: () => ({ status: 401, message: 'token required' }) }));
    const outcome = await browser.page.evaluate(async (url) => {
      const wss = new (globalThis as unknown as PageGlobals).WebSocketStream(url);
      const opened = await wss.opened.then(() => 'opened', (e: Error) => e.name);
      const closed = await wss.closed.then(() => null, (e: { name: string; closeCode: number }) => ({ name: e.name, closeCode: e.closeCode }));
      return { opened, closed };
    }, wsUrl);
    expect(outcome).toEqual({ opened: 'WebSocketError', closed: { name: 'WebSocketError', closeCode: 1006 } });
    await expect(server!.accepted[0]!.opened).rejects.toThrow(/401 Unauthorized: token required/);
  });
});

describe('backpressure with Chromium\'s WebSocketStream', () => {
  const CHUNK = 64 * 1024;
  const TOTAL = 1024; // 64 MiB: far more than every buffer between the two ends

  it('the page stops reading: our writes stall; the page reads again: everything arrives in order', async () => {
    let completed = 0;
    let lastProgress = Date.now();
    const { wsUrl } = await open(async (wss) => {
      const writer = (await wss.opened).writable.getWriter();
      for (let i = 0; i < TOTAL; i++) {
        const chunk = new Uint8Array(CHUNK);
        new DataView(chunk.buffer).setUint32(0, i);
        await writer.write(chunk);
        completed++;
        lastProgress = Date.now();
      }
      await writer.close();
    });
    await browser.page.evaluate(async (url) => {
      const wss = new (globalThis as unknown as PageGlobals).WebSocketStream(url);
      (globalThis as Record<string, unknown>).flood = wss;
      await wss.opened;
    }, wsUrl);
    // Wait until our writes have made no progress for 1 s (bounded).
    await withTimeout((async () => {
      while (Date.now() - lastProgress < 1000) await delay(100);
    })(), 20_000, 'the server writes to stall');
    const stalledAt = completed;
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(TOTAL / 2);
    await delay(500);
    expect(completed).toBe(stalledAt);

    const result = await browser.page.evaluate(async () => {
      const wss = (globalThis as Record<string, unknown>).flood as WebSocketStream;
      const { readable } = await wss.opened;
      let count = 0;
      let inOrder = true;
      for await (const chunk of readable as unknown as AsyncIterable<ArrayBuffer | Uint8Array>) {
        const view = chunk instanceof ArrayBuffer ? new DataView(chunk) : new DataView(chunk.buffer, chunk.byteOffset);
        if (view.getUint32(0) !== count) inOrder = false;
        count++;
      }
      return { count, inOrder, closed: await wss.closed };
    });
    expect(result).toEqual({ count: TOTAL, inOrder: true, closed: { closeCode: 1005, reason: '' } });
    expect(completed).toBe(TOTAL);
  });

  it('our server stops reading: the page\'s write() promises stall; we read again: everything arrives in order', async () => {
    let serverReadable: ReadableStream | undefined;
    const { wsUrl } = await open(async (wss) => {
      serverReadable = (await wss.opened).readable;
    });
    await browser.page.evaluate(async ({ url, total, size }) => {
      const state = { completed: 0, lastProgress: Date.now(), done: false };
      (globalThis as Record<string, unknown>).sink = state;
      const wss = new (globalThis as unknown as PageGlobals).WebSocketStream(url);
      const writer = (await wss.opened).writable.getWriter();
      void (async () => {
        for (let i = 0; i < total; i++) {
          const chunk = new Uint8Array(size);
          new DataView(chunk.buffer).setUint32(0, i);
          await writer.write(chunk);
          state.completed++;
          state.lastProgress = Date.now();
        }
        await writer.close();
        state.done = true;
      })();
    }, { url: wsUrl, total: TOTAL, size: CHUNK });
    const progress = (): Promise<{ completed: number; sinceProgress: number }> => browser.page.evaluate(() => {
      const state = (globalThis as Record<string, unknown>).sink as { completed: number; lastProgress: number };
      return { completed: state.completed, sinceProgress: Date.now() - state.lastProgress };
    });
    let seen = await progress();
    await withTimeout((async () => {
      while (seen.sinceProgress < 1000) {
        await delay(100);
        seen = await progress();
      }
    })(), 20_000, 'the page\'s writes to stall');
    expect(seen.completed).toBeLessThan(TOTAL / 2);
    await delay(500);
    expect((await progress()).completed).toBe(seen.completed);

    let count = 0;
    let inOrder = true;
    const reader = serverReadable!.getReader();
    for (;;) {
      const { value, done } = await withTimeout(reader.read(), 10_000, `message ${count}`);
      if (done) break;
      const chunk = value as Uint8Array;
      if (new DataView(chunk.buffer, chunk.byteOffset).getUint32(0) !== count) inOrder = false;
      count++;
    }
    expect({ count, inOrder }).toEqual({ count: TOTAL, inOrder: true });
    await expect(server!.accepted[0]!.closed).resolves.toEqual({ closeCode: 1005, reason: '' });
  });
});
