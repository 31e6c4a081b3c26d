// Runs the server example of README.md ("## Server", first js block) as a program, so that the
// README cannot drift from the library: echo with the chosen subprotocol, and the verify hook's
// 403. Needs dist/ (`npm test` builds first). The child is killed after each test and has a
// hard timeout of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketStream } from '../src/index.js';
import { withTimeout } from './helpers/timing.js';

let child: ChildProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  child?.kill();
  child = undefined;
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function readmeServerExample(): Promise<string> {
  const readme = await readFile('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('\n## Server\n'));
  const match = /```js\n([\s\S]*?)```/.exec(section);
  if (match === null || !readme.includes('\n## Server\n')) throw new Error('README.md has no js block under "## Server"');
  return match[1]!;
}

/** Starts the example on a free port; resolves with the URL it prints. */
async function startExample(): Promise<string> {
  const dist = pathToFileURL(resolve('dist/index.js')).href;
  const code = (await readmeServerExample()).replaceAll("from 'websocketstream'", `from '${dist}'`);
  dir = await mkdtemp(join(tmpdir(), 'wss-readme-'));
  const file = join(dir, 'server.mjs');
  await writeFile(file, code);
  child = spawn(process.execPath, [file], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'], timeout: 30_000 });
  const started = child;
  return withTimeout(new Promise<string>((resolvePromise, reject) => {
    let out = '';
    started.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const url = /listening on (ws:\/\/\S+)/.exec(out)?.[1];
      if (url) resolvePromise(url);
    });
    started.once('exit', (code) => reject(new Error(`example exited with ${code}: ${out}`)));
  }), 10_000, 'the README example to listen');
}

describe('README "## Server" example', () => {
  it('echoes with the chat subprotocol and refuses the evil origin with 403', async () => {
    const url = await startExample();
    const wss = new WebSocketStream(url, { protocols: ['other', 'chat'] });
    const { readable, writable, protocol } = await wss.opened;
    expect(protocol).toBe('chat');
    const writer = writable.getWriter();
    await writer.write('hello README');
    expect((await readable.getReader().read()).value).toBe('hello README');
    wss.close({ closeCode: 1000 });
    await expect(wss.closed).resolves.toMatchObject({ closeCode: 1000 });

    const evil = new WebSocketStream(url, { headers: { Origin: 'https://evil.example' } });
    await expect(evil.opened).rejects.toThrow(/403/);
  });
});
