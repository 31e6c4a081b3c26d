// The browser entry (dist/browser.js, as the package ships it) in real browsers, against our Node
// server started here: Debian's Chromium with its native WebSocketStream, the same Chromium with
// the native one removed before the page loads (so our fallback on WebSocket runs), and Debian's
// Firefox ESR (no native WebSocketStream: the fallback). Every browser runs the same scenarios
// (test/interop/browser-page/scenarios.js) and must give the same results.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptWebSocketStream, type WebSocketClosedInfo, type WebSocketStream } from '../../src/index.js';
import { withTimeout } from '../helpers/timing.js';
import { startUpgradeServer, type UpgradeServer } from '../helpers/upgrade-server.js';
import { launchChromium } from './chromium-harness.js';

const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
const root = new URL('../../', import.meta.url);

interface Outcome {
  result?: Record<string, unknown> | boolean;
  thrown?: unknown;
}

/** One browser with the test page loaded. */
interface Driver {
  run(scenario: string, base?: string): Promise<Outcome>;
  close(): Promise<void>;
}

type Launcher = (pageUrl: string) => Promise<Driver>;

async function chromium(pageUrl: string, removeNative: boolean): Promise<Driver> {
  const browser = await launchChromium();
  try {
    if (removeNative) {
      await browser.page.context().addInitScript(() => {
        delete (globalThis as { WebSocketStream?: unknown }).WebSocketStream;
        delete (globalThis as { WebSocketError?: unknown }).WebSocketError;
      });
    }
    await browser.page.goto(pageUrl);
    await browser.page.waitForFunction(() => (globalThis as unknown as { scenariosReady?: boolean }).scenariosReady === true, undefined, { timeout: 10_000 });
  } catch (error) {
    await browser.close();
    throw error;
  }
  return {
    run: (scenario, base) => browser.page.evaluate(([name, url]) => (globalThis as unknown as PageWindow).runScenario(name!, url), [scenario, base]),
    close: () => browser.close(),
  };
}

interface PageWindow {
  runScenario(name: string, base?: string): Promise<Outcome>;
}

/** Firefox through WebDriver BiDi (puppeteer-core), headless, in a fresh profile. */
async function firefox(pageUrl: string): Promise<Driver> {
  if (!existsSync(FIREFOX)) throw new Error(`Firefox not found at ${FIREFOX}: run \`apt-get install -y firefox-esr\` (as .ci/run does) or set FIREFOX`);
  const profile = await mkdtemp(join(tmpdir(), 'wss-firefox-'));
  const browser = await launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, userDataDir: profile, timeout: 30_000 }).catch(async (error: unknown) => {
    await rm(profile, { recursive: true, force: true });
    throw error;
  });
  const close = async (): Promise<void> => {
    await withTimeout(browser.close(), 10_000, 'Firefox to close').catch(() => browser.process()?.kill('SIGKILL'));
    await rm(profile, { recursive: true, force: true });
  };
  try {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    await page.waitForFunction(() => (globalThis as unknown as { scenariosReady?: boolean }).scenariosReady === true, { timeout: 10_000 });
    return {
      run: (scenario, base) => page.evaluate((name, url) => (globalThis as unknown as PageWindow).runScenario(name, url), scenario, base),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Serves the page, the built browser entry and the scenarios, and accepts every upgrade: the last
 * path segment says what the server does; how each connection ended is kept by path.
 */
async function startPageServer(): Promise<UpgradeServer & { closedByPath: Map<string, Promise<WebSocketClosedInfo | { error: string }>>; held: Map<string, WebSocketStream> }> {
  const files: Record<string, [string, string]> = {
    '/': ['text/html', '<!doctype html><title>websocketstream</title><script type="module" src="/scenarios.js"></script>'],
    '/websocketstream.js': ['text/javascript', readFileSync(new URL('dist/browser.js', root), 'utf8')],
    '/scenarios.js': ['text/javascript', readFileSync(new URL('test/interop/browser-page/scenarios.js', root), 'utf8')],
  };
  const closedByPath = new Map<string, Promise<WebSocketClosedInfo | { error: string }>>();
  const held = new Map<string, WebSocketStream>();
  const server = await startUpgradeServer((request: IncomingMessage, socket, head) => {
    const path = request.url ?? '/';
    const action = path.slice(path.lastIndexOf('/') + 1);
    const wss = acceptWebSocketStream(request, socket, head, { protocols: ['chat.v1'], verify: () => action !== 'refuse' });
    closedByPath.set(path, wss.closed.catch((error: unknown) => ({ error: String(error) })));
    void wss.opened.then(async ({ readable, writable }) => {
      if (action === 'echo') await readable.pipeTo(writable).catch(() => {});
      if (action === 'server-close') wss.close({ closeCode: 4001, reason: 'server bye' });
      // Once the page has sent something: it has seen the connection open.
      if (action === 'destroy') await readable.getReader().read().then(() => socket.destroy());
      if (action === 'hold') held.set(path, wss);
    }, () => {});
  }, (request, response) => {
    const file = files[request.url ?? '/'];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': `${file[0]}; charset=utf-8`, 'Cache-Control': 'no-store' });
    response.end(file[1]);
  });
  return Object.assign(server, { closedByPath, held });
}

const browsers: Array<[string, boolean, Launcher]> = [
  ['Chromium, native WebSocketStream', true, (url) => chromium(url, false)],
  ['Chromium, native removed: the fallback', false, (url) => chromium(url, true)],
  ['Firefox ESR: the fallback', false, firefox],
];

const firefoxMissing = !existsSync(FIREFOX) && !process.env.CI;
if (firefoxMissing) console.warn(`skipping Firefox: ${FIREFOX} not found (CI installs firefox-esr)`);

describe.each(browsers)('%s', (name, native, launcher) => {
  let server: Awaited<ReturnType<typeof startPageServer>>;
  let driver: Driver;
  let count = 0;
  /** A fresh base URL per scenario, so the server's records do not mix. */
  const base = (): string => `${server.url}/${++count}`;
  const skip = name.startsWith('Firefox') && firefoxMissing;

  beforeAll(async () => {
    if (skip) return;
    server = await startPageServer();
    driver = await launcher(`http://127.0.0.1:${server.port}/`);
  });

  afterAll(async () => {
    for (const wss of server?.held.values() ?? []) wss.close();
    await driver?.close();
    await server?.close();
  });

  it.skipIf(skip)(`uses ${native ? 'the native' : 'our'} WebSocketStream`, async () => {
    expect(await driver.run('native')).toEqual({ result: native });
  });

  it.skipIf(skip)('opens with a subprotocol, echoes text and binary, closes with a code and reason', async () => {
    const url = base();
    const { result } = await driver.run('echo', url);
    expect(result).toEqual({
      url: `${url}/echo`,
      protocol: 'chat.v1',
      extensions: expect.any(String) as string,
      text: 'héllo 😀',
      binary: [0, 1, 254, 255],
      big: [70_000, true],
      closed: { value: { closeCode: 4000, reason: expect.any(String) as string } },
    });
    expect(await server.closedByPath.get(new URL(`${url}/echo`).pathname)).toEqual({ closeCode: 4000, reason: 'client bye' });
  });

  it.skipIf(skip)('sees the server\'s close code and reason', async () => {
    expect(await driver.run('server-close', base())).toEqual({ result: { done: true, closed: { value: { closeCode: 4001, reason: 'server bye' } } } });
  });

  it.skipIf(skip)('a refused handshake rejects opened (closeCode null) and closed (1006) with WebSocketErrors', async () => {
    const error = { isWebSocketError: true, isDOMException: true, name: 'WebSocketError', reason: '' };
    expect(await driver.run('refused', base())).toEqual({
      result: { opened: { error: { ...error, closeCode: null } }, closed: { error: { ...error, closeCode: 1006 } } },
    });
  });

  it.skipIf(skip)('cancel() and abort() with a WebSocketError close with its code and reason', async () => {
    let url = base();
    expect(await driver.run('cancel', url)).toMatchObject({ result: { closed: { value: { closeCode: 4002 } } } });
    expect(await server.closedByPath.get(new URL(`${url}/echo`).pathname)).toEqual({ closeCode: 4002, reason: 'cancelled' });
    url = base();
    expect(await driver.run('abort', url)).toMatchObject({ result: { closed: { value: { closeCode: 4003 } } } });
    expect(await server.closedByPath.get(new URL(`${url}/echo`).pathname)).toEqual({ closeCode: 4003, reason: 'aborted' });
  });

  it.skipIf(skip)('a dropped connection errors the readable and rejects closed with one WebSocketError (1006)', async () => {
    expect(await driver.run('unclean', base())).toMatchObject({
      result: {
        read: { error: { isWebSocketError: true, closeCode: 1006 } },
        closed: { error: { isWebSocketError: true, closeCode: 1006 } },
        same: true,
      },
    });
  });

  it.skipIf(skip)('checks its arguments and resolves URLs as the browser does', async () => {
    const url = base();
    expect(await driver.run('constructor', url)).toEqual({
      result: {
        relative: `${url}/echo`,
        http: `${url}/echo`,
        ftp: 'SyntaxError',
        fragment: 'SyntaxError',
        protocolsString: 'TypeError',
        protocolsDuplicate: 'SyntaxError',
        protocolsInvalid: 'SyntaxError',
        noArgument: 'TypeError',
      },
    });
  });

  it.skipIf(skip)('abandons the opening handshake on abort (the signal\'s reason) and on close() (WebSocketError)', async () => {
    // The draft (and this package on Node) rejects with the signal's reason; Chrome 156 rejects
    // with an AbortError of its own.
    const abortError = expect.objectContaining({ isDOMException: true, name: 'AbortError' }) as unknown;
    const fromSignal = native ? [abortError, abortError] : [true, true];
    expect(await driver.run('early-close', base())).toMatchObject({
      result: {
        aborted: fromSignal,
        alreadyAborted: fromSignal,
        closed: { opened: { error: { isWebSocketError: true, closeCode: null } }, closed: { error: { isWebSocketError: true, closeCode: 1006 } } },
      },
    });
  });

  it.skipIf(skip)('after a clean close a write rejects with InvalidStateError', async () => {
    expect(await driver.run('write-after-close', base())).toMatchObject({ result: { write: { error: { name: 'InvalidStateError' } } } });
  });

  it.skipIf(skip)('close() validates its code and reason', async () => {
    expect(await driver.run('close-validation', base())).toMatchObject({
      result: { errors: ['InvalidAccessError', 'SyntaxError'], closed: { value: { closeCode: 1005 } } },
    });
  });

  it.skipIf(skip)('write backpressure: writes stall while the server does not read, then all arrive', async () => {
    const url = base();
    const { result } = await driver.run('write-backpressure', url) as { result: { stalled: boolean; written: number; resolved: number } };
    // The server reads nothing: the kernel buffers and the browser's fill, and writes stop resolving
    // long before the 128 MiB the page would write.
    expect(result.stalled).toBe(true);
    expect(result.written).toBeLessThan(64 * 1024 * 1024);
    expect(result.resolved).toBeLessThan(result.written);
    // Now the server reads: every byte written arrives, then the page's last message.
    const wss = server.held.get(new URL(`${url}/hold`).pathname)!;
    const { readable } = await wss.opened;
    let received = 0;
    let last: unknown;
    const reading = (async () => {
      for await (const chunk of readable) {
        if (typeof chunk === 'string') last = chunk;
        else received += chunk.byteLength;
      }
    })();
    expect(await driver.run('write-backpressure-finish')).toEqual({ result: { closed: { value: { closeCode: 1005, reason: '' } } } });
    await withTimeout(reading, 10_000, 'the server to read everything');
    expect(received).toBe(result.written);
    expect(last).toBe('end');
  });
});
