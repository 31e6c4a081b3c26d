// A deliberately dumb, hostile WebSocket "server" on a raw node:net socket. It parses just enough
// of the client's HTTP request to answer it, then lets each test write arbitrary bytes and read
// the client's frames back byte for byte. Only 127.0.0.1, every wait is bounded by a timeout.
// Also the two simplest raw peers: a server that never answers, and a port where nothing listens.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';
import { withTimeout } from './timing.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Largest request head we accept before giving up on a client (bounds the parse loop). */
const MAX_REQUEST_HEAD = 16 * 1024;
const DEFAULT_WAIT = 3000;

export function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export interface RawRequest {
  method: string;
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

/** A frame as the client sent it, payload already unmasked. */
export interface ClientFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  mask: Buffer | null;
  payload: Buffer;
}

/**
 * One end of a raw TCP connection: the bytes received and not consumed yet, frames read from them,
 * and waits that are all bounded. `peer` names the other end in timeout messages.
 */
export class RawEndpoint {
  /** Bytes received and not consumed by a read yet. */
  protected inbox: Buffer;
  private waiters: Array<() => void> = [];
  /** The peer half-closed or the socket closed: no more bytes will come. */
  ended = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket, received: Buffer, private readonly peer: 'client' | 'server', private readonly wait: number) {
    this.inbox = received;
    socket.on('data', (chunk: Buffer) => {
      this.inbox = Buffer.concat([this.inbox, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    // A peer that resets is fine for these tests; they look at what arrived.
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.wake();
      resolve();
    }));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Resolves when `predicate` holds, or rejects after `timeout` ms. */
  protected waitFor(predicate: () => boolean, timeout: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`raw ${this.peer === 'client' ? 'server' : 'client'}: timed out after ${timeout} ms waiting for ${what}`));
      }, timeout);
      const check = (): void => {
        if (predicate()) {
          clearTimeout(timer);
          resolve();
        } else {
          this.waiters.push(check);
        }
      };
      this.waiters.push(check);
    });
  }

  /** Reads the next complete frame from the peer; rejects on timeout or if the peer ends first. */
  async readFrame(timeout = this.wait): Promise<ClientFrame> {
    let frame: { frame: ClientFrame; size: number } | null = null;
    await this.waitFor(() => {
      frame = parseClientFrame(this.inbox);
      return frame !== null || this.ended;
    }, timeout, `a frame from the ${this.peer}`);
    const parsed = frame as { frame: ClientFrame; size: number } | null;
    if (parsed === null) {
      throw new Error(`the ${this.peer} ended with ${this.inbox.length} unparsed bytes and no complete frame`);
    }
    this.inbox = this.inbox.subarray(parsed.size);
    return parsed.frame;
  }

  /** Waits until the peer closes its side of TCP (FIN or close). */
  waitForEnd(timeout = this.wait): Promise<void> {
    return this.waitFor(() => this.ended, timeout, `the ${this.peer} to end the TCP connection`);
  }
}

/** The server's side of one connection, once the client's request head has been parsed. */
export class RawConnection extends RawEndpoint {
  readonly request: RawRequest;
  /** The client's Sec-WebSocket-Key. */
  readonly key: string;

  constructor(socket: Socket, request: RawRequest, rest: Buffer) {
    super(socket, rest, 'client', DEFAULT_WAIT);
    this.request = request;
    this.key = request.headers['sec-websocket-key'] ?? '';
    socket.setNoDelay(true);
  }

  /** Bytes received and not yet consumed. */
  get pending(): Buffer {
    return this.inbox;
  }

  /** Writes bytes and waits until the socket has handed them to the kernel. */
  write(bytes: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(bytes, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** A correct 101 answer, plus extra header lines; `accept` overrides Sec-WebSocket-Accept. */
  acceptHandshake(options: { headers?: string[]; accept?: string | null; extra?: Buffer } = {}): Promise<void> {
    const accept = options.accept === undefined ? acceptFor(this.key) : options.accept;
    const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade'];
    if (accept !== null) lines.push(`Sec-WebSocket-Accept: ${accept}`);
    lines.push(...(options.headers ?? []));
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    return this.write(options.extra ? Buffer.concat([head, options.extra]) : head);
  }

  /** Writes a whole response head: a status line and header lines, then an optional body. */
  respond(statusLine: string, headers: string[], body = ''): Promise<void> {
    return this.write(Buffer.from(`${[statusLine, ...headers].join('\r\n')}\r\n\r\n${body}`, 'latin1'));
  }
}

/** Parses one client frame from the start of `bytes`, or returns null when it is incomplete. */
export function parseClientFrame(bytes: Buffer): { frame: ClientFrame; size: number } | null {
  if (bytes.length < 2) return null;
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  const masked = (b1 & 0x80) !== 0;
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (bytes.length < 4) return null;
    length = bytes.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return null;
    length = Number(bytes.readBigUInt64BE(2));
    offset = 10;
  }
  let mask: Buffer | null = null;
  if (masked) {
    if (bytes.length < offset + 4) return null;
    mask = Buffer.from(bytes.subarray(offset, offset + 4));
    offset += 4;
  }
  if (bytes.length < offset + length) return null;
  const payload = Buffer.from(bytes.subarray(offset, offset + length));
  if (mask !== null) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
  return {
    frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0x0f, masked, mask, payload },
    size: offset + length,
  };
}

export interface FrameSpec {
  fin?: boolean;
  /** RSV1..3 as a 3-bit number (4 = RSV1, 2 = RSV2, 1 = RSV3). */
  rsv?: number;
  /** A 4-byte mask: the server then (wrongly) masks the frame. */
  mask?: Buffer;
  /** Force the length encoding: 7-bit, 16-bit or 64-bit (default: the shortest). */
  lengthForm?: 7 | 16 | 64;
}

/** Encodes a server frame, legal or not. */
export function frame(opcode: number, payload: Buffer | string = Buffer.alloc(0), spec: FrameSpec = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const form = spec.lengthForm ?? (data.length < 126 ? 7 : data.length < 65536 ? 16 : 64);
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | opcode];
  const maskBit = spec.mask ? 0x80 : 0;
  if (form === 7) {
    head.push(maskBit | data.length);
  } else if (form === 16) {
    head.push(maskBit | 126, data.length >> 8, data.length & 0xff);
  } else {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(data.length));
    head.push(maskBit | 127, ...big);
  }
  let body = data;
  if (spec.mask) {
    head.push(...spec.mask);
    body = Buffer.from(data);
    for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ spec.mask[i & 3]!;
  }
  return Buffer.concat([Buffer.from(head), body]);
}

/** A Close frame body: code (2 bytes) and reason; raw bytes allowed for the reason. */
export function closeBody(code: number, reason: Buffer | string = ''): Buffer {
  const code2 = Buffer.alloc(2);
  code2.writeUInt16BE(code);
  return Buffer.concat([code2, typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason]);
}

export interface RawServer {
  url: string;
  port: number;
  /** Every connection that completed its request head, in order. */
  connections: RawConnection[];
  /** Resolves with the next connection whose request head has been parsed. */
  nextConnection(timeout?: number): Promise<RawConnection>;
  /** Destroys every socket and closes the listener. */
  close(): Promise<void>;
}

/**
 * Starts the hostile server. `onRawSocket`, if given, gets the socket before anything is parsed
 * (for servers that never answer or hang up mid-request); otherwise each parsed request is handed
 * to `onConnection`.
 */
export async function startRawServer(
  onConnection: (conn: RawConnection) => void | Promise<void>,
  onRawSocket?: (socket: Socket) => boolean,
): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const connections: RawConnection[] = [];
  let waiting: Array<(conn: RawConnection) => void> = [];
  /** How many connections nextConnection() has handed out. */
  let taken = 0;
  const handlerErrors: unknown[] = [];

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (onRawSocket?.(socket)) return;
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > MAX_REQUEST_HEAD) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const request = parseRequest(head.subarray(0, end).toString('latin1'));
      const conn = new RawConnection(socket, request, Buffer.from(head.subarray(end + 4)));
      connections.push(conn);
      const next = waiting.shift();
      if (next) next(conn);
      socket.resume();
      Promise.resolve()
        .then(() => onConnection(conn))
        .catch((error: unknown) => {
          handlerErrors.push(error);
          socket.destroy();
        });
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `ws://127.0.0.1:${port}/hostile`,
    port,
    connections,
    nextConnection(timeout = DEFAULT_WAIT) {
      const ready = connections[taken];
      if (ready !== undefined) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const deliver = (conn: RawConnection): void => {
          clearTimeout(timer);
          taken++;
          resolve(conn);
        };
        const timer = setTimeout(() => {
          waiting = waiting.filter((w) => w !== deliver);
          reject(new Error('raw server: no connection arrived'));
        }, timeout);
        waiting.push(deliver);
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (handlerErrors.length > 0) throw handlerErrors[0];
    },
  };
}

function parseRequest(text: string): RawRequest {
  const [requestLine = '', ...headerLines] = text.split('\r\n');
  const [method = '', path = ''] = requestLine.split(' ');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, path, headers };
}

/** A TCP server that accepts connections and never answers (a handshake that hangs). */
export async function startSilentServer(): Promise<{ url: string; connections: Socket[]; server: Server }> {
  const connections: Socket[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    socket.on('error', () => {});
    socket.resume(); // read and ignore the request
  });
  onCleanup(async () => {
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  server.listen(0, '127.0.0.1');
  await withTimeout(once(server, 'listening'), 5_000, 'listen');
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, connections, server };
}

/** A port on 127.0.0.1 where nothing listens (it was listening a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
