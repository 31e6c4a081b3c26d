// The `websocketstream` command's interactive mode, driven through a real pseudo-terminal: a tmux
// server of the test's own (private socket in a temporary directory), stopped after each test.
// tmux comes from Debian (.ci/run installs it); without CI a missing tmux skips these tests.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { serve, type WebSocketClosedInfo, type WebSocketStreamServer } from '../src/index.js';
import { CLI } from './helpers/cli.js';
import { delay, waitFor } from './helpers/timing.js';

const run = promisify(execFile);
const haveTmux = spawnSync('tmux', ['-V']).status === 0;
if (!haveTmux && !process.env.CI) console.warn('tmux is not installed: skipping the interactive CLI tests');

let server: WebSocketStreamServer | undefined;
let tmuxDir: string | undefined;

afterEach(async () => {
  if (tmuxDir !== undefined) {
    const socket = join(tmuxDir, 'tmux.sock');
    const pid = await run('tmux', ['-S', socket, 'display-message', '-p', '#{pid}']).then(({ stdout }) => Number(stdout), () => 0);
    await run('tmux', ['-S', socket, 'kill-server']).catch(() => {});
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    }
    await rm(tmuxDir, { recursive: true, force: true });
    tmuxDir = undefined;
  }
  await server?.close();
  server = undefined;
});

/** Our echo server; `closes` collects how each connection ended. */
async function startEchoServer(): Promise<{ url: string; closes: WebSocketClosedInfo[] }> {
  const closes: WebSocketClosedInfo[] = [];
  server = await serve({ host: '127.0.0.1', port: 0 }, async (wss) => {
    const { readable, writable } = await wss.opened;
    // 'evil' gets an answer with escape sequences that would clear the screen and retitle it.
    const answer = (m: unknown): string => (m === 'evil' ? 'evil \x1b[2J\x1b]0;title\x07' : `echo ${String(m)}`);
    await readable.pipeThrough(new TransformStream({ transform: (m, c) => c.enqueue(answer(m)) })).pipeTo(writable).catch(() => {});
    closes.push(await wss.closed.catch(() => ({ closeCode: 1006, reason: 'unclean' })));
  });
  return { url: server.url, closes };
}

/** Runs the CLI in a new tmux session; returns functions to type into it and read its screen. */
async function terminal(args: string[]): Promise<{ type: (...keys: string[]) => Promise<void>; waitForScreen: (pattern: RegExp) => Promise<string> }> {
  tmuxDir = await mkdtemp(join(tmpdir(), 'wss-cli-tmux-'));
  const tmux = (...tmuxArgs: string[]): Promise<{ stdout: string }> => run('tmux', ['-S', join(tmuxDir!, 'tmux.sock'), '-f', '/dev/null', ...tmuxArgs]);
  // The shell line reports the exit status on the screen, then keeps the pane for us to read it.
  const command = [process.execPath, CLI, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
  await tmux('new-session', '-d', '-s', 'cli', '-x', '120', '-y', '30', `${command}; echo EXIT=$?; sleep 60`);
  return {
    type: async (...keys) => {
      await tmux('send-keys', '-t', 'cli', ...keys);
    },
    waitForScreen: async (pattern) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { stdout: screen } = await tmux('capture-pane', '-p', '-t', 'cli');
        if (pattern.test(screen)) return screen;
        if (Date.now() > deadline) throw new Error(`The screen did not show ${pattern} within 10 s; it shows:\n${screen}`);
        await delay(50);
      }
    },
  };
}

describe.skipIf(!haveTmux && !process.env.CI)('websocketstream <url> in a terminal', () => {
  it('sends typed lines, shows received messages with a marker, /ping shows the pong, /close closes with a code and reason', async () => {
    const { url, closes } = await startEchoServer();
    const term = await terminal([url]);
    await term.waitForScreen(/Connected to ws:\/\/127\.0\.0\.1:\d+\/\./);
    await term.type('hello there', 'Enter');
    await term.waitForScreen(/^< echo hello there$/m);
    await term.type('//slash', 'Enter');
    await term.waitForScreen(/^< echo \/slash$/m);
    // A peer's escape sequences are shown, not obeyed (this one would clear the screen).
    await term.type('evil', 'Enter');
    await term.waitForScreen(/^< evil \\x1b\[2J\\x1b\]0;title\\x07$/m);
    await term.type('/ping', 'Enter');
    await term.waitForScreen(/^< pong \(\d+\.\d ms\)$/m);
    await term.type('/nonsense', 'Enter');
    await term.waitForScreen(/Unknown command \/nonsense/);
    await term.type('/close 4000 see you', 'Enter');
    const screen = await term.waitForScreen(/EXIT=0/);
    // The server's answer: its code (and, once servers echo it, the reason).
    expect(screen).toMatch(/^Closed \(code 4000/m);
    await waitFor(() => closes.length === 1, 5_000, 'the server to see the close');
    expect(closes[0]).toEqual({ closeCode: 4000, reason: 'see you' });
  });

  it('Ctrl+C closes with 1000', async () => {
    const { url, closes } = await startEchoServer();
    const term = await terminal([url]);
    await term.waitForScreen(/Connected to/);
    await term.type('C-c');
    await term.waitForScreen(/EXIT=0/);
    await waitFor(() => closes.length === 1, 5_000, 'the server to see the close');
    expect(closes[0]!.closeCode).toBe(1000);
  });

  it('Ctrl+D closes with --close-code', async () => {
    const { url, closes } = await startEchoServer();
    const term = await terminal(['--close-code', '4100', url]);
    await term.waitForScreen(/Connected to/);
    await term.type('C-d');
    await term.waitForScreen(/EXIT=0/);
    await waitFor(() => closes.length === 1, 5_000, 'the server to see the close');
    expect(closes[0]!.closeCode).toBe(4100);
  });
});
