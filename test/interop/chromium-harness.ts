// Debian's Chromium driven by playwright-core (no browser download: the installed binary), headless,
// with a fresh profile that is deleted afterwards; and an http server on 127.0.0.1 that serves the
// test page and hands WebSocket upgrades on the same port to acceptWebSocketStream.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { acceptWebSocketStream, type AcceptOptions, type WebSocketStream } from '../../src/index.js';
import { startUpgradeServer, type UpgradeServer } from '../helpers/upgrade-server.js';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export interface Browser {
  page: Page;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: run \`apt-get install -y chromium\` (as .ci/run does) or set CHROMIUM`);
  }
  const profile = await mkdtemp(join(tmpdir(), 'wss-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? await context.newPage();
  return {
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export interface PageServer extends UpgradeServer {
  /** Streams accepted so far, in order. */
  accepted: WebSocketStream[];
  /** The page URL to navigate to (same origin as the WebSocket endpoint). */
  pageUrl: string;
}

/**
 * Serves an empty HTML page at / and accepts every upgrade: `options` and `onStream` may depend on
 * the request (its path says what the test wants).
 */
export async function startPageServer(
  onStream: (wss: WebSocketStream, request: IncomingMessage) => unknown,
  options: (request: IncomingMessage) => AcceptOptions = () => ({}),
): Promise<PageServer> {
  const accepted: WebSocketStream[] = [];
  const server = await startUpgradeServer((request, socket, head) => {
    const wss = acceptWebSocketStream(request, socket, head, options(request));
    accepted.push(wss);
    void Promise.resolve(onStream(wss, request)).catch(() => {});
  }, (_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>websocketstream interop</title><p>interop</p>');
  });
  return Object.assign(server, { accepted, pageUrl: `http://127.0.0.1:${server.port}/` });
}
