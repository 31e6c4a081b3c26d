// Starts test/runtimes/peer.mjs under Bun, Deno or Node (the runtimes come from npm, see
// package.json) and talks to it: JSON lines out, commands in. Every wait is bounded and every
// process is killed by its PID after the test.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onCleanup } from '../helpers/cleanup.js';
import { withTimeout } from '../helpers/timing.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PEER = fileURLToPath(new URL('./peer.mjs', import.meta.url));

export interface Runtime {
  name: string;
  executable: string;
  args: string[];
}

export const RUNTIMES: Runtime[] = [
  { name: 'Bun', executable: `${root}node_modules/@oven/bun-linux-x64/bin/bun`, args: ['run'] },
  {
    name: 'Deno',
    executable: `${root}node_modules/@deno/linux-x64-glibc/deno`,
    // Only what the package needs (the network), plus what the test peer itself reads.
    args: ['run', '--quiet', '--no-prompt', '--v8-flags=--expose-gc', '--allow-net=127.0.0.1', `--allow-read=${root}test/fixtures/tls`, '--allow-env=WSS_CA'],
  },
];

/**
 * Whether the runtime's binary is there. Missing under CI is a failure (CI installs it with
 * `npm ci`); elsewhere the suite is skipped with a message.
 */
export function available(runtime: Runtime): boolean {
  if (existsSync(runtime.executable)) return true;
  const message = `${runtime.name} not found at ${runtime.executable}: run \`npm ci\` on linux-x64 (glibc)`;
  if (process.env.CI) throw new Error(message);
  console.warn(`skipping the ${runtime.name} suite: ${message}`);
  return false;
}

export type Line = Record<string, unknown>;

export interface Peer {
  lines: Line[];
  /** The first line (seen or to come) for which `match` is true. */
  next(match: (line: Line) => boolean, what: string, ms?: number): Promise<Line>;
  send(command: string): void;
  /** stderr so far, for failure messages. */
  stderr(): string;
}

export function startPeer(runtime: Runtime, args: string[], env: Record<string, string> = {}): Peer {
  const child: ChildProcessWithoutNullStreams = spawn(runtime.executable, [...runtime.args, PEER, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', ...env },
  });
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: Line[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  createInterface({ input: child.stdout }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      lines.push({ unparsed: text });
    }
    for (const wake of waiters) wake();
  });
  child.on('exit', () => {
    for (const wake of waiters) wake();
  });
  return {
    lines,
    next(match, what, ms = 15_000) {
      return withTimeout(new Promise<Line>((resolve, reject) => {
        const check = (): void => {
          const found = lines.find(match);
          if (found) {
            waiters.delete(check);
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            reject(new Error(`${runtime.name} exited (${child.exitCode ?? child.signalCode}) before ${what}; stdout ${JSON.stringify(lines)}; stderr ${stderr}`));
          }
        };
        waiters.add(check);
        check();
      }), ms, `${what} from ${runtime.name} (stderr: ${stderr})`);
    },
    send(command) {
      child.stdin.write(`${command}\n`);
    },
    stderr: () => stderr,
  };
}
