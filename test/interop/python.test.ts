// permessage-deflate against Debian's python3-websockets (apt-get install python3-websockets; .ci/run
// installs it), run with Debian's own /usr/bin/python3. Its server answers
// server_max_window_bits=12 (and client_max_window_bits=12), its client offers its own parameters: both directions, text and
// binary, compressible and random, small and 16 MiB. The peer script is test/interop/python-peer.py.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptWebSocketStream, WebSocketStream } from '../../src/index.js';
import { withTimeout } from '../helpers/timing.js';
import { startUpgradeServer, type UpgradeServer } from '../helpers/upgrade-server.js';

const PYTHON = process.env.DEBIAN_PYTHON ?? '/usr/bin/python3';
const PEER = fileURLToPath(new URL('./python-peer.py', import.meta.url));
const MiB = 1024 * 1024;

const children: ChildProcess[] = [];
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn();
  for (const child of children.splice(0)) {
    child.stdin?.end(); // the server mode stops when its stdin closes
    if (child.exitCode === null) child.kill();
  }
});

function python(args: string[], timeoutMs: number): { child: ChildProcess; output: Promise<string> } {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} not found: install python3-websockets with apt (as .ci/run does)`);
  const child = spawn(PYTHON, [PEER, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const output = new Promise<string>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`python-peer.py ${args[0]} exited with ${code ?? signal}: ${stderr.slice(-2000)}`));
    });
  });
  output.catch(() => {});
  return { child, output };
}

/** The first line the child prints, parsed. */
function firstLine(child: ChildProcess): Promise<{ port: number }> {
  return withTimeout(new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) resolve(JSON.parse(text.slice(0, end)));
    });
    child.on('exit', () => reject(new Error('python-peer.py exited before printing its port')));
  }), 10_000, 'the python server to listen');
}

function compressibleText(length: number): string {
  let text = '';
  for (let i = 0; text.length < length; i++) text += JSON.stringify({ id: i, name: `item ${i}`, price: i * 1.5, tags: ['a', 'b'] });
  return text.slice(0, length);
}

describe('our client, python3-websockets server', () => {
  const cases: Array<[string, () => string | Uint8Array]> = [
    ['compressible text, small', () => compressibleText(2000)],
    ['random text, small', () => randomBytes(1500).toString('base64')],
    ['compressible binary, small', () => Buffer.from(compressibleText(3000))],
    ['random binary, small', () => randomBytes(3000)],
    ['compressible text, 16 MiB', () => compressibleText(16 * MiB)],
    ['random binary, 16 MiB', () => randomBytes(16 * MiB)],
    ['random text, 16 MiB', () => randomBytes(12 * MiB).toString('base64')],
  ];

  for (const [name, make] of cases) {
    it(`echoes ${name}, twice`, async () => {
      const { child } = python(['server'], 120_000);
      const { port } = await firstLine(child);
      const stream = new WebSocketStream(`ws://127.0.0.1:${port}`);
      cleanups.push(() => stream.close());
      const { readable, writable, extensions } = await withTimeout(stream.opened, 10_000, 'opened');
      // python-websockets' server limits its own window to 12 bits, and ours (we offered
      // client_max_window_bits without a value) to 12 as well.
      expect(extensions).toBe('permessage-deflate; server_max_window_bits=12; client_max_window_bits=12');
      const reader = readable.getReader();
      const writer = writable.getWriter();
      const payload = make();
      for (let round = 0; round < 2; round++) {
        await withTimeout(writer.write(payload), 30_000, 'the write');
        const { value } = await withTimeout(reader.read(), 30_000, 'the echo');
        if (typeof payload === 'string') expect(value).toBe(payload);
        else expect(Buffer.from(value as Uint8Array).equals(Buffer.from(payload))).toBe(true);
      }
      stream.close({ closeCode: 1000, reason: 'bye' });
      expect(await withTimeout(stream.closed, 10_000, 'closed')).toEqual({ closeCode: 1000, reason: 'bye' });
    });
  }
});

describe('our server with perMessageDeflate, python3-websockets client', () => {
  it('echoes text and binary, compressible and random, small and 16 MiB', async () => {
    let server: UpgradeServer | null = null;
    server = await startUpgradeServer((request, socket, head) => {
      const wss = acceptWebSocketStream(request, socket, head, { perMessageDeflate: true, maxPayload: 64 * MiB });
      cleanups.push(() => wss.close());
      void wss.opened.then(({ readable, writable }) => readable.pipeTo(writable)).catch(() => {});
    });
    cleanups.push(() => server!.close());
    const { output } = python(['client', server.url], 120_000);
    const report = JSON.parse(await withTimeout(output, 110_000, 'the python client')) as {
      offered: string;
      extensions: string;
      results: Array<{ case: string; ok: boolean; type: string }>;
      closeReceived: { code: number; reason: string };
    };
    expect(report.offered).toMatch(/^permessage-deflate/);
    expect(report.extensions).toMatch(/^permessage-deflate/);
    expect(report.results).toHaveLength(12);
    for (const result of report.results) expect(result, result.case).toMatchObject({ ok: true });
    expect(report.results.filter((r) => r.type === 'bytes')).toHaveLength(6);
    expect(report.closeReceived).toEqual({ code: 1000, reason: 'done' });
  }, 120_000);
});
