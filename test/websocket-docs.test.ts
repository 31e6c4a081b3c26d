// Runs the example program of docs/websocket.md against a `ws` echo server, so that the page cannot
// drift from what the library does. The program imports 'websocketstream'; here that import points
// at a bundle of the current src/.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, expect, it } from 'vitest';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { startWsPeer } from './helpers/ws-peer.js';
import { bundleLibrary, removeBundles, runNode } from './helpers/node-process.js';

afterEach(cleanup);
afterAll(removeBundles);

/** The first ```js block of the page: the complete example program. */
async function exampleProgram(): Promise<string> {
  const page = await readFile(new URL('../docs/websocket.md', import.meta.url), 'utf8');
  const match = /```js\n([\s\S]*?)```/.exec(page);
  if (match === null) throw new Error('docs/websocket.md has no ```js block');
  return match[1]!;
}

it('docs/websocket.md: the example program prints what the page says', async () => {
  const server = await startWsPeer();
  server.wss.on('connection', (peer) => {
    peer.on('message', (data, isBinary) => peer.send(data as Buffer, { binary: isBinary }));
  });
  const bundle = pathToFileURL(await bundleLibrary()).href;
  const source = (await exampleProgram()).replace("from 'websocketstream'", `from ${JSON.stringify(bundle)}`);
  expect(source).toContain(bundle);
  const dir = await mkdtemp(join(tmpdir(), 'wss-docs-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'docs-example.mjs');
  await writeFile(file, source);

  const { code, stdout, stderr } = await runNode([file, server.url]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(stdout).toBe([
    'open, subprotocol "chat"',
    'text: hello',
    'binary: 3 bytes',
    'closed: 1000 "done", clean: true',
    '',
  ].join('\n'));
});
