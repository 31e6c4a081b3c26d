// A raw TCP client for testing our server: it writes any request bytes and frames (legal or not)
// and reads the server's answer back byte for byte. Every wait is bounded by a timeout.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { closeBody, frame, RawEndpoint } from './raw-server.js';
import { withTimeout } from './timing.js';

const DEFAULT_WAIT = 5000;

export interface RawResponse {
  status: number;
  /** Header names in lower case; repeated ones joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

/** A valid opening-handshake request; `headers` entries override or (with null) remove lines. */
export function handshakeRequest(path = '/', headers: Record<string, string | null> = {}, requestLine?: string): string {
  const base: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
  };
  const merged = { ...base, ...headers };
  const lines = [requestLine ?? `GET ${path} HTTP/1.1`];
  for (const [name, value] of Object.entries(merged)) if (value !== null) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A raw TCP client: write bytes, read the HTTP response head, then frames (parsed as in raw-server.ts). */
export class RawClient extends RawEndpoint {
  private constructor(socket: Socket) {
    super(socket, Buffer.alloc(0), 'server', DEFAULT_WAIT);
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await withTimeout(new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }), DEFAULT_WAIT, 'TCP connect');
    socket.setNoDelay(true);
    return new RawClient(socket);
  }

  /** Connects and completes a valid handshake; returns the client and the 101 response. */
  static async open(port: number, path = '/', headers: Record<string, string | null> = {}): Promise<{ client: RawClient; response: RawResponse }> {
    const client = await RawClient.connect(port);
    client.write(handshakeRequest(path, headers));
    const response = await client.readResponse();
    if (response.status !== 101) throw new Error(`expected 101, got ${response.status}: ${response.body}`);
    return { client, response };
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** The HTTP response head, and for a non-101 its body (read until Content-Length or the end). */
  async readResponse(timeout = DEFAULT_WAIT): Promise<RawResponse> {
    await this.waitFor(() => this.inbox.includes('\r\n\r\n') || this.ended, timeout, 'the response head');
    const end = this.inbox.indexOf('\r\n\r\n');
    if (end === -1) throw new Error(`connection ended before a response head: ${JSON.stringify(this.inbox.toString('latin1'))}`);
    const [statusLine = '', ...lines] = this.inbox.subarray(0, end).toString('latin1').split('\r\n');
    this.inbox = this.inbox.subarray(end + 4);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(statusLine.split(' ')[1]);
    let body = '';
    if (status !== 101) {
      const length = Number(headers['content-length'] ?? NaN);
      if (Number.isFinite(length)) {
        await this.waitFor(() => this.inbox.length >= length || this.ended, timeout, 'the response body');
        body = this.inbox.subarray(0, length).toString('utf8');
        this.inbox = this.inbox.subarray(length);
      } else {
        await this.waitFor(() => this.ended, timeout, 'the end of the response');
        body = this.inbox.toString('utf8');
        this.inbox = Buffer.alloc(0);
      }
    }
    return { status, headers, body };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A client frame: masked with a fresh random key unless `mask` is false. */
export function clientFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), options: { mask?: boolean; fin?: boolean } = {}): Buffer {
  return frame(opcode, payload, { fin: options.fin ?? true, ...(options.mask === false ? {} : { mask: randomBytes(4) }) });
}

export function closePayload(code: number, reason = ''): Buffer {
  return closeBody(code, reason);
}
