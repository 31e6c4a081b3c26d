import { clearLine, createInterface, cursorTo } from 'node:readline';
import { sendPing, type WebSocketStream } from '../index.js';
import type { ClientSession } from './client.js';
import { ignore } from './pipes.js';

// C0 controls but tab, DEL and the C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g;

function visible(character: string): string {
  return `\\x${character.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

const HELP = 'Commands: /ping, /close [code] [reason]. A line starting with // sends one starting with /.';

/**
 * The terminal mode: a prompt whose lines are sent as text messages, received messages printed
 * above it after a `<` marker. Ctrl+C or Ctrl+D closes (a second Ctrl+C quits at once).
 */
export async function runInteractive(
  wss: WebSocketStream,
  { readable, writable, protocol }: { readable: ReadableStream<unknown>; writable: WritableStream<unknown>; protocol: string },
  session: ClientSession,
): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' });
  /** The connection is over, or the terminal's input (Ctrl+D): no prompt any more. */
  let ended = false;
  let inputClosed = false;
  /** Prints a line above the prompt and redraws the prompt with what was typed so far. */
  const print = (line: string): void => {
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    process.stdout.write(`${line}\n`);
    // A closed readline throws on prompt() since Node 24.
    if (!ended && !inputClosed) rl.prompt(true);
  };
  let closing = false;
  const close = (code?: number, reason?: string): void => {
    if (closing) return;
    closing = true;
    print('Closing...');
    session.close(code, reason);
  };

  const writer = writable.getWriter();
  print(`Connected to ${wss.url}${protocol === '' ? '' : ` (subprotocol ${protocol})`}. Ctrl+C or Ctrl+D closes. ${HELP}`);
  rl.on('line', (line) => {
    if (line.startsWith('/') && !line.startsWith('//')) {
      runCommand(line, wss, close, print);
    } else {
      // A person types slower than any socket drains: no need to wait for the writer here.
      writer.write(line.startsWith('//') ? line.slice(1) : line).catch(ignore);
      rl.prompt();
    }
  });
  rl.on('SIGINT', () => {
    if (closing) process.exit(130);
    close();
  });
  rl.on('close', () => {
    inputClosed = true;
    close();
  });

  let received = 0;
  const reading = (async () => {
    for await (const message of readable as ReadableStream<string | Uint8Array | ArrayBuffer>) {
      print(`< ${show(message)}`);
      if (++received === session.config.maxMessages) close();
    }
  })().catch(ignore);

  await Promise.allSettled([wss.closed, reading]);
  ended = true;
  const closed = await wss.closed.catch(() => null);
  if (closed !== null) print(`Closed (code ${closed.closeCode}${closed.reason === '' ? '' : `, reason ${JSON.stringify(closed.reason)}`})`);
  if (!inputClosed) rl.close();
}

function runCommand(line: string, wss: WebSocketStream, close: (code?: number, reason?: string) => void, print: (line: string) => void): void {
  const [command, code, ...reason] = line.split(' ');
  if (command === '/ping') {
    sendPing(wss).then(
      (milliseconds) => print(`< pong (${milliseconds.toFixed(1)} ms)`),
      (error: unknown) => print(`No pong: ${(error as Error).message}`),
    );
    return;
  }
  if (command !== '/close') {
    print(`Unknown command ${command}. ${HELP}`);
    return;
  }
  const closeCode = code === undefined || code === '' ? undefined : Number(code);
  if (closeCode !== undefined && !(Number.isInteger(closeCode) && (closeCode === 1000 || (closeCode >= 3000 && closeCode <= 4999)))) {
    print('The close code must be 1000 or 3000-4999');
    return;
  }
  if (Buffer.byteLength(reason.join(' ')) > 123) {
    print('The close reason must be at most 123 UTF-8 bytes');
    return;
  }
  close(closeCode, reason.join(' '));
}

/**
 * A received message as one line: text with its control characters made visible, binary as its
 * size and first bytes in hex. A peer must not drive the terminal: escape sequences can clear it,
 * retitle it, or (OSC 52) write to the clipboard.
 */
function show(message: string | Uint8Array | ArrayBuffer): string {
  if (typeof message === 'string') return message.replace(CONTROL_CHARACTERS, visible);
  const bytes = message instanceof ArrayBuffer ? new Uint8Array(message) : message;
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 32)).toString('hex');
  return `(binary, ${bytes.byteLength} bytes) ${hex}${bytes.byteLength > 32 ? '...' : ''}`;
}
