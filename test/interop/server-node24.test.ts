// Our server against Node 24's built-in WebSocket, run as a child process (Node 24 from the node@24
// npm package, see test/node24.ts): echo, close codes and reasons both ways, subprotocol selection,
// a refused handshake. Each child prints one JSON line and exits by itself.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptWebSocketStream, type WebSocketStream } from '../../src/index.js';
import { node24Binary } from '../node24.js';
import { startUpgradeServer, type UpgradeServer } from '../helpers/upgrade-server.js';

const run = promisify(execFile);
const CLIENT = resolve('test/interop/server-node24-client.mjs');

let server: UpgradeServer | undefined;
const accepted = new Map<string, WebSocketStream>();

afterEach(async () => {
  for (const wss of accepted.values()) wss.close();
  accepted.clear();
  await server?.close();
  server = undefined;
});

/** One server for every scenario; the request path says what the server side does. */
async function startScenarioServer(): Promise<string> {
  server = await startUpgradeServer((request, socket, head) => {
    const path = request.url ?? '/';
    const wss = acceptWebSocketStream(request, socket, head, {
      protocols: ['chat', 'graphql-ws'],
      verify: () => (path === '/refused' ? { status: 403, message: 'not you' } : true),
    });
    accepted.set(path, wss);
    void (async () => {
      const { readable, writable } = await wss.opened;
      if (path === '/server-closes') {
        wss.close({ closeCode: 4020, reason: 'our server says bye' });
        return;
      }
      await readable.pipeTo(writable);
    })().catch(() => {});
  });
  return server.url;
}

async function scenario(name: string): Promise<Record<string, unknown>> {
  const url = await startScenarioServer();
  const { stdout } = await run(node24Binary(), [CLIENT, url, name], { timeout: 15_000 });
  const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
  expect(result.node).toMatch(/^v24\./);
  expect(result.error).toBeUndefined();
  return result;
}

describe('Node 24 built-in WebSocket against our server', () => {
  it('echoes text and binary (1 MB included)', async () => {
    const result = await scenario('echo');
    expect(result).toMatchObject({
      text: 'hello from node 24 ✓',
      binary: [1, 2, 3, 255],
      bigLength: 1_000_000,
      bigOk: true,
      close: { code: 1000, wasClean: true },
    });
    await expect(accepted.get('/echo')!.closed).resolves.toEqual({ closeCode: 1000, reason: '' });
  });

  it('the client closes with a code and reason: our server gets both', async () => {
    const result = await scenario('clientCloses');
    // Our Close echoes the client's code and reason, which Node 24 then reports.
    expect(result.close).toEqual({ code: 4010, reason: 'node 24 says bye', wasClean: true });
    await expect(accepted.get('/client-closes')!.closed).resolves.toEqual({ closeCode: 4010, reason: 'node 24 says bye' });
  });

  it('our server closes with a code and reason: the client gets both', async () => {
    const result = await scenario('serverCloses');
    expect(result.close).toEqual({ code: 4020, reason: 'our server says bye', wasClean: true });
    await expect(accepted.get('/server-closes')!.closed).resolves.toMatchObject({ closeCode: 4020 });
  });

  it('the client\'s first protocol that we speak is selected', async () => {
    const result = await scenario('protocols');
    expect(result.protocol).toBe('graphql-ws');
  });

  it('a refused handshake is an error and close 1006 for the client', async () => {
    const result = await scenario('refused');
    expect(result.close).toEqual({ code: 1006, reason: '', wasClean: false, sawError: true });
    await expect(accepted.get('/refused')!.opened).rejects.toThrow(/403 Forbidden: not you/);
  });
});
