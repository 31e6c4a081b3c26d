import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ServeOptions, WebSocketStreamOptions } from '../index.js';

/** A mistake on the command line: printed with a hint to --help, exit status 2. */
export class UsageError extends Error {}

type Value = string | boolean | string[];

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder of the value in --help. */
  value?: string;
  help: string;
  /** What the option sets on the client's `WebSocketStream` options. */
  client?: (value: Value) => Partial<WebSocketStreamOptions>;
  /** What the option sets on the server's `serve()` options. */
  server?: (value: Value) => Partial<ServeOptions>;
}

/**
 * Every option, once: the parser, --help and the library options are all built from this table,
 * so a library option becomes a flag with one line here.
 */
const OPTIONS = {
  help: { type: 'boolean', short: 'h', help: 'Show this help and exit' },
  version: { type: 'boolean', short: 'V', help: 'Show the version and exit' },
  binary: { type: 'boolean', short: 'b', help: 'Send stdin chunks as binary messages; write every message raw, without a newline' },
  header: { type: 'string', short: 'H', multiple: true, value: "'Name: value'", help: 'Add a request header (repeatable)', client: (v) => ({ headers: (v as string[]).map(header) }) },
  subprotocol: { type: 'string', short: 's', multiple: true, value: 'NAME', help: 'Offer (client) or accept (server) a subprotocol (repeatable)', client: (v) => ({ protocols: v as string[] }), server: (v) => ({ protocols: v as string[] }) },
  origin: { type: 'string', value: 'ORIGIN', help: 'Send an Origin header', client: (v) => ({ headers: [['Origin', v as string]] }) },
  ca: { type: 'string', value: 'FILE', help: 'Trust the CA certificates in this PEM file (wss:)', client: (v) => ({ ca: file(v, 'ca') }) },
  cert: { type: 'string', value: 'FILE', help: 'Client certificate, PEM (wss:)', client: (v) => ({ cert: file(v, 'cert') }) },
  key: { type: 'string', value: 'FILE', help: "Client certificate's private key, PEM (wss:)", client: (v) => ({ key: file(v, 'key') }) },
  insecure: { type: 'boolean', short: 'k', help: "Do not check the server's certificate (wss:)", client: () => ({ rejectUnauthorized: false }) },
  keepalive: { type: 'string', value: 'MS', help: 'Ping every MS milliseconds; drop a peer silent for as long', client: (v) => ({ keepaliveInterval: positive(v, 'keepalive') }), server: (v) => ({ keepaliveInterval: positive(v, 'keepalive') }) },
  proxy: { type: 'string', value: 'URL', help: 'Connect through this proxy (http:, https:, socks5:, socks5h:); default: from the environment', client: (v) => ({ proxy: v as string }) },
  'unix-socket': { type: 'string', value: 'PATH', help: 'Connect over this Unix domain socket (the URL still gives Host and path)', client: (v) => ({ socketPath: v as string }) },
  'keep-open': { type: 'boolean', short: 'N', help: "Stay connected when stdin ends (until the peer closes, -n, or Ctrl+C)" },
  'max-messages': { type: 'string', short: 'n', value: 'N', help: 'Close (with --close-code) and exit after receiving N messages' },
  'close-code': { type: 'string', value: 'CODE', help: 'Close code when we close: 1000 (default) or 3000-4999' },
  'close-reason': { type: 'string', value: 'TEXT', help: 'Close reason when we close (at most 123 UTF-8 bytes)' },
  'no-deflate': { type: 'boolean', help: 'Do not offer (client) or accept (server) permessage-deflate', client: () => ({ perMessageDeflate: false }), server: () => ({ perMessageDeflate: false }) },
  'max-payload': { type: 'string', value: 'BYTES', help: 'Largest message accepted (default 64 MiB); a larger one closes with 1009', client: (v) => ({ maxPayload: positive(v, 'max-payload') }), server: (v) => ({ maxPayload: positive(v, 'max-payload') }) },
  timeout: { type: 'string', value: 'MS', help: 'Time allowed for the opening handshake (default 30000)', client: (v) => ({ handshakeTimeout: positive(v, 'timeout') }), server: (v) => ({ handshakeTimeout: positive(v, 'timeout') }) },
  listen: { type: 'string', short: 'l', value: 'PORT', help: 'Server mode: accept WebSocket connections on PORT (0: any free port)' },
  host: { type: 'string', value: 'ADDRESS', help: 'Server mode: address to listen on (default 127.0.0.1)' },
  broadcast: { type: 'boolean', help: 'Server mode: serve every client at once; stdin lines go to all' },
  echo: { type: 'boolean', help: 'Server mode: send every message back to its sender instead' },
} satisfies Record<string, OptionSpec>;

type Name = keyof typeof OPTIONS;

export interface CommonConfig {
  binary: boolean;
  /** stdin's end does not close: the tool runs until the peer closes, -n, or a signal. */
  keepOpen: boolean;
  maxMessages: number | undefined;
  /** --close-code, when given (the code of a close we start; 1000 otherwise). */
  closeCode: number | undefined;
  closeReason: string;
}

export interface ClientConfig extends CommonConfig {
  mode: 'client';
  url: string;
  options: WebSocketStreamOptions;
}

export interface ServerConfig extends CommonConfig {
  mode: 'server';
  options: ServeOptions & { port: number; host: string };
  broadcast: boolean;
  echo: boolean;
}

export type Config = ClientConfig | ServerConfig | { mode: 'help' } | { mode: 'version' };

/** Parses argv (without node and the script) into what to run; throws UsageError on mistakes. */
export function parseCommandLine(argv: string[]): Config {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Partial<Record<Name, Value>>;
  if (values.help) return { mode: 'help' };
  if (values.version) return { mode: 'version' };

  const common: CommonConfig = {
    binary: values.binary === true,
    keepOpen: values['keep-open'] === true,
    maxMessages: values['max-messages'] === undefined ? undefined : positive(values['max-messages'], 'max-messages'),
    closeCode: values['close-code'] === undefined ? undefined : closeCode(values['close-code'] as string),
    closeReason: (values['close-reason'] as string | undefined) ?? '',
  };
  if (Buffer.byteLength(common.closeReason) > 123) throw new UsageError('--close-reason must be at most 123 UTF-8 bytes');

  if (values.listen !== undefined) {
    if (parsed.positionals.length > 0) throw new UsageError('--listen takes no URL');
    const port = Number(values.listen);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--listen needs a port from 0 to 65535');
    if (values.broadcast && values.echo) throw new UsageError('--broadcast and --echo exclude each other');
    return {
      mode: 'server',
      ...common,
      // Deflate on, as the client offers it by default; --no-deflate turns it off.
      options: { perMessageDeflate: true, ...libraryOptions(values, 'server'), port, host: (values.host as string | undefined) ?? '127.0.0.1' },
      broadcast: values.broadcast === true,
      echo: values.echo === true,
    };
  }

  for (const name of ['host', 'broadcast', 'echo'] as const) {
    if (values[name] !== undefined) throw new UsageError(`--${name} needs --listen`);
  }
  const [url, ...rest] = parsed.positionals;
  if (url === undefined) throw new UsageError('a URL is needed (or --listen PORT)');
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  return { mode: 'client', ...common, url, options: libraryOptions(values, 'client') };
}

/** Merges what each given option sets; headers from -H and --origin add up. */
function libraryOptions(values: Partial<Record<Name, Value>>, role: 'client'): WebSocketStreamOptions;
function libraryOptions(values: Partial<Record<Name, Value>>, role: 'server'): ServeOptions;
function libraryOptions(values: Partial<Record<Name, Value>>, role: 'client' | 'server'): WebSocketStreamOptions | ServeOptions {
  const merged: Record<string, unknown> = {};
  const headers: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(values) as Array<[Name, Value]>) {
    const spec: OptionSpec = OPTIONS[name];
    const map = role === 'client' ? spec.client : spec.server;
    if (map === undefined) {
      if (spec.client !== undefined || spec.server !== undefined) throw new UsageError(`--${name} has no meaning ${role === 'server' ? 'with' : 'without'} --listen`);
      continue;
    }
    const set = map(value) as Record<string, unknown>;
    for (const [key, optionValue] of Object.entries(set)) {
      if (key === 'headers') headers.push(...(optionValue as Array<[string, string]>));
      else merged[key] = optionValue;
    }
  }
  if (headers.length > 0) merged.headers = headers;
  return merged;
}

function header(line: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new UsageError(`--header needs 'Name: value', got ${JSON.stringify(line)}`);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

function file(path: Value, name: string): Buffer {
  try {
    return readFileSync(path as string);
  } catch (error) {
    throw new UsageError(`--${name}: cannot read ${String(path)}: ${(error as Error).message}`);
  }
}

function positive(value: Value, name: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number <= 0) throw new UsageError(`--${name} needs a positive integer, got ${JSON.stringify(value)}`);
  return number;
}

function closeCode(value: string): number {
  const code = Number(value);
  if (!Number.isInteger(code) || (code !== 1000 && (code < 3000 || code > 4999))) {
    throw new UsageError(`--close-code must be 1000 or 3000-4999, got ${JSON.stringify(value)}`);
  }
  return code;
}

/** The --help text, generated from the option table. */
export function helpText(): string {
  const lines = [
    'Usage: websocketstream [options] <url>          connect (ws:, wss:, http:, https:)',
    '       websocketstream [options] --listen <port> accept connections',
    '',
    'Pipes: each stdin line is sent as a text message and each message is written to stdout as',
    "one line; stdin's end closes the connection. A terminal gets an interactive prompt instead.",
    '',
    'Options:',
  ];
  for (const [name, spec] of Object.entries(OPTIONS) as Array<[string, OptionSpec]>) {
    const flag = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
    lines.push(`  ${flag.padEnd(30)} ${spec.help}`);
  }
  lines.push(
    '',
    'Exit status: 0 after a clean close, 1 when the connection fails or breaks, 2 for a usage error.',
    'See docs/cli.md for examples.',
  );
  return `${lines.join('\n')}\n`;
}
