import { toWritableStream, WebSocketError, WebSocketStream } from '../index.js';
import { runInteractive } from './interactive.js';
import type { ClientConfig } from './options.js';
import { UsageError } from './options.js';
import { DEFAULT_MAX_LINE, ignore, inputMessages, outputFormat, sendAll } from './pipes.js';
import { flushStdout, report } from './report.js';

/** Connects, runs the pipe or the interactive mode, and returns the exit status. */
export async function runClient(config: ClientConfig): Promise<number> {
  let wss: WebSocketStream;
  try {
    wss = new WebSocketStream(config.url, config.options);
  } catch (error) {
    // A bad URL, header or subprotocol: the library's message says which.
    throw new UsageError((error as Error).message);
  }
  const session = new ClientSession(wss, config);
  // Ctrl+C (outside the prompt, which reads it itself) or a kill: close properly, or give up the
  // opening handshake; a second signal ends the process at once.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => session.close());
  let opened;
  try {
    opened = await wss.opened;
  } catch (error) {
    report(`cannot connect to ${wss.url}: ${(error as Error).message}`);
    return 1;
  }
  if (process.stdin.isTTY && process.stdout.isTTY) {
    await runInteractive(wss, opened, session);
  } else {
    await runPipes(opened, session, config);
  }
  return session.finish();
}

/** What both modes share: closing with the configured code, and the final report. */
export class ClientSession {
  /** The close code we sent, or null while the peer may still be the one closing. */
  #sentCode: number | null = null;
  /** We hit one of our own limits: the exit status says so. */
  #failed = false;

  constructor(readonly wss: WebSocketStream, readonly config: ClientConfig) {}

  /**
   * Starts the closing handshake with the given code (default: --close-code, or 1000).
   * `keepMessages`: every message the server still sends reaches stdout, at stdout's pace.
   */
  close(code = this.config.closeCode ?? 1000, reason = this.config.closeReason, keepMessages = false): void {
    this.#sentCode ??= code;
    this.wss.close({ closeCode: code, reason, keepMessages });
  }

  /** Reports a failure of ours and closes. */
  fail(message: string): void {
    report(message);
    this.#failed = true;
    this.close();
  }

  /** Waits for the end of the connection; reports how it ended; returns the exit status. */
  async finish(): Promise<number> {
    let status = this.#failed ? 1 : 0;
    try {
      const { closeCode, reason } = await this.wss.closed;
      const normal = closeCode === 1000 || closeCode === 1005 || closeCode === this.#sentCode;
      if (!normal) report(`the server closed the connection with ${describeClose(closeCode, reason)}`);
    } catch (error) {
      const { closeCode, reason } = error instanceof WebSocketError ? error : { closeCode: null, reason: '' };
      const code = closeCode === null || closeCode === 1006 ? '' : ` (${describeClose(closeCode, reason)})`;
      report(`connection failed: ${(error as Error).message}${code}`);
      status = 1;
    }
    await flushStdout();
    return status;
  }
}

export function describeClose(code: number, reason: string): string {
  return reason === '' ? `code ${code}` : `code ${code}, reason ${JSON.stringify(reason)}`;
}

/**
 * stdin to messages, messages to stdout, both with backpressure: stdin is read only as fast as the
 * socket takes its messages, and the socket only as fast as stdout takes its lines.
 */
async function runPipes({ readable, writable }: { readable: ReadableStream<unknown>; writable: WritableStream<unknown> }, session: ClientSession, config: ClientConfig): Promise<void> {
  const output = readable
    .pipeThrough(outputFormat(config.binary, config.maxMessages, () => session.close()))
    .pipeTo(toWritableStream(process.stdout))
    .catch(ignore);
  // A reader that went away (`| head -1`) has had what it wanted.
  process.stdout.on('error', () => session.close());

  const writer = writable.getWriter();
  const input = inputMessages(process.stdin, config.binary, config.options.maxPayload ?? DEFAULT_MAX_LINE);
  sendAll(input, writer).then(
    () => {
      // stdin's end: close with 1000 (or --close-code), keeping every message still on its way
      // however slow stdout is (the standard close() would drop those that do not fit the queue).
      if (!config.keepOpen) session.close(undefined, undefined, true);
    },
    (error: unknown) => session.fail((error as Error).message),
  );
  await Promise.allSettled([session.wss.closed, output]);
}
