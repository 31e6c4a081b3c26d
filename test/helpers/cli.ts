// Runs the built command-line tool (dist/cli.js) as a child process, as a user would, and stops
// every child a test started (by its PID) after the test.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withTimeout } from './timing.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit status (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
  /** Resolves once stderr contains a match; rejects after `timeoutMs`. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

const running = new Set<ChildProcessWithoutNullStreams>();

/** Starts `node dist/cli.js ...args` with piped stdio; the caller owns stdin and stdout. */
export function startCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: 'pipe' });
  running.add(child);
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    for (const wake of waiters) wake();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    stderr: () => stderr,
    exited,
    waitForStderr(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = stderr.match(pattern);
          if (match === null) return;
          cleanupWaiter();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanupWaiter();
          reject(new Error(`stderr did not match ${pattern} within ${timeoutMs} ms; it was: ${stderr}`));
        }, timeoutMs);
        const cleanupWaiter = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs the CLI to its end with `input` on stdin; resolves with its status and output. */
export async function runCli(args: string[], input: string | Buffer = '', timeoutMs = 15_000): Promise<{ status: number | string; stdout: Buffer; stderr: string }> {
  const cli = startCli(args);
  const chunks: Buffer[] = [];
  cli.child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const stdoutDone = new Promise((resolve) => cli.child.stdout.once('end', resolve));
  cli.child.stdin.on('error', () => {}); // the CLI may exit before reading all of it
  cli.child.stdin.end(input);
  const status = await withTimeout(cli.exited, timeoutMs, `websocketstream ${args.join(' ')}`);
  await withTimeout(stdoutDone, timeoutMs, 'stdout end');
  return { status, stdout: Buffer.concat(chunks), stderr: cli.stderr() };
}

/** Kills every CLI child still running (call from afterEach). */
export async function stopClis(): Promise<void> {
  await Promise.all([...running].map((child) => {
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    return gone;
  }));
}

/** The resident set size of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}
