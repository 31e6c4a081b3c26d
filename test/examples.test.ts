// Runs the programs in examples/ (the ones README and docs/ show) against a real `ws` server, so
// the documentation cannot drift from what the library does. Needs dist/: `npm test` builds first.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { cleanup } from './helpers/cleanup.js';
import { startWsPeer } from './helpers/ws-peer.js';

const run = promisify(execFile);

afterEach(cleanup);

/** A `ws` peer that runs `onConnection` for each client; returns its URL. */
async function wsPeerRunning(onConnection: (ws: WebSocket, request: IncomingMessage) => void): Promise<string> {
  const peer = await startWsPeer();
  peer.wss.on('connection', onConnection);
  return peer.url;
}

function runExample(name: string, ...args: string[]): Promise<{ stdout: string }> {
  return run(process.execPath, [join('examples', name), ...args], { timeout: 15_000 });
}

describe('examples/', () => {
  it('error-codes.mjs tells a violation by its code', async () => {
    const url = await wsPeerRunning((ws) => {
      ws.send('fine');
      // A text frame holding the byte 0xFF: not UTF-8.
      (ws as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x81, 0x01, 0xff]));
    });
    const { stdout } = await runExample('error-codes.mjs', url);
    expect(stdout).toBe('message: fine\nthe peer sent invalid UTF-8; we closed with 1007\n');
  });

  it('for-await.mjs echoes text and binary, then closes by leaving the loop', async () => {
    const url = await wsPeerRunning((ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const { stdout } = await runExample('for-await.mjs', url);
    expect(stdout).toBe('text: hello\nbinary: 3 bytes\nclosed with 1005\n');
  });

  it('pipe-to-file.mjs writes every binary message to the file, in order', async () => {
    const expected = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < expected.length; i++) expected[i] = (i * 7) & 0xff;
    const url = await wsPeerRunning((ws) => {
      for (let offset = 0; offset < expected.length; offset += 64 * 1024) {
        ws.send(expected.subarray(offset, offset + 64 * 1024));
      }
      ws.close(1000);
    });
    const dir = await mkdtemp(join(tmpdir(), 'wss-example-'));
    try {
      const path = join(dir, 'out.bin');
      const { stdout } = await runExample('pipe-to-file.mjs', url, path);
      expect(stdout).toBe(`saved to ${path}\n`);
      expect((await readFile(path)).equals(expected)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('pipe-through-text.mjs decodes UTF-8 split across messages and splits lines', async () => {
    const text = Buffer.from('first line\nsecond: h\u00e9llo \u{1f600}\nthird', 'utf8');
    const url = await wsPeerRunning((ws) => {
      // Cut inside the two-byte é and inside the four-byte emoji.
      const cuts = [0, 5, text.indexOf(0xc3) + 1, text.indexOf(0xf0) + 2, text.length];
      for (let i = 1; i < cuts.length; i++) ws.send(text.subarray(cuts[i - 1], cuts[i]));
      ws.close(1000);
    });
    const { stdout } = await runExample('pipe-through-text.mjs', url);
    expect(stdout).toBe('line: first line\nline: second: h\u00e9llo \u{1f600}\nline: third\n');
  });
  it('json-lines.mjs parses JSON lines split across messages', async () => {
    const url = await wsPeerRunning((ws) => {
      for (const part of ['{"type":"buy","amount":3}\n{"type":"se', 'll","amount":2}\n', '{"type":"buy","amount":5}']) ws.send(part);
      ws.close(1000);
    });
    const { stdout } = await runExample('json-lines.mjs', url);
    expect(stdout).toBe('buy: 3\nsell: 2\nbuy: 5\ntotal: 10\n');
  });

  it('fan-in.mjs merges several sockets into one stream, every message once', async () => {
    const url = await wsPeerRunning((ws, request) => {
      const name = request.url!.slice(1);
      for (let i = 0; i < 3; i++) ws.send(`${name}${i}`);
      ws.close(1000);
    });
    const { stdout } = await runExample('fan-in.mjs', `${url}/a`, `${url}/b`, `${url}/c`);
    const lines = stdout.trim().split('\n').sort();
    expect(lines).toEqual(['[0] a0', '[0] a1', '[0] a2', '[1] b0', '[1] b1', '[1] b2', '[2] c0', '[2] c1', '[2] c2']);
  });

  it('create-connection.mjs reaches chat.internal through its own socket; the server sees that Host', async () => {
    const hosts: string[] = [];
    const url = await wsPeerRunning((ws, request) => {
      hosts.push(`${request.headers.host}${request.url}`);
      ws.on('message', (data) => ws.send(data.toString()));
    });
    const { stdout } = await runExample('create-connection.mjs', url);
    expect(stdout).toBe('echo: hello through my own socket\n');
    expect(hosts).toEqual(['chat.internal/room']);
  });
});
