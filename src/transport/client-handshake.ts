import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { generateKey, validateHandshakeResponse } from '../protocol/handshake.js';
import { formatOffer, type ClientDeflateOffer, type DeflateParams, type DeflateTuning } from '../protocol/permessage-deflate.js';
import { HandshakeError, type HandshakeErrorCode } from '../protocol/handshake-error.js';
import type { Transport } from './open-transport.js';
import type { SocketReads } from './socket-reads.js';

/** permessage-deflate as agreed in the handshake, with our tuning for it. */
export interface NegotiatedDeflate {
  params: DeflateParams;
  tuning: DeflateTuning;
}

export interface ClientHandshakeOptions {
  protocols: readonly string[];
  headers: Readonly<Record<string, string>>;
  /** Opens the stream to the server (TCP, TLS, a proxy's tunnel...); aborted when the handshake fails. */
  connect: (signal: AbortSignal) => Promise<Transport>;
  handshakeTimeout: number;
  signal: AbortSignal | undefined;
  /** The permessage-deflate offer, or null to offer no extension. */
  deflate: { offer: ClientDeflateOffer; tuning: DeflateTuning } | null;
}

export interface OpenedSocket {
  socket: Socket;
  /** Bytes that arrived right behind the 101 response: the first frames. */
  head: Buffer;
  protocol: string;
  extensions: string;
  /** permessage-deflate as agreed, or null. */
  deflate: NegotiatedDeflate | null;
  /** The socket's reads, when we choose their buffers (plain TCP); null: read with 'data' events. */
  reads: SocketReads | null;
}

/** Statuses whose Location the client may follow when asked to (RFC 9110 15.4). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Opens the connection (options.connect) and performs the client's opening handshake (RFC 6455 4.1).
 * Node's HTTP client parses the response; we check the parts RFC 6455 cares about.
 * Rejects with the signal's reason when `signal` aborts first.
 */
export function openClientSocket(url: URL, options: ClientHandshakeOptions): Promise<OpenedSocket> {
  return new Promise((resolve, reject) => {
    const key = generateKey();
    const headers: Record<string, string> = {
      ...options.headers,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Version': '13',
    };
    if (options.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = options.protocols.join(', ');
    if (options.deflate !== null) headers['Sec-WebSocket-Extensions'] = formatOffer(options.deflate.offer);

    // The Host of the URL (the port only when not the default), whatever the stream goes through.
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'host')) headers.Host = url.host;
    // The socket leaves HTTP after the upgrade: no pooling, no keep-alive agent. The stream comes
    // from options.connect (TLS included for wss:), so Node's HTTP client only speaks HTTP on it.
    let reads: SocketReads | null = null;
    const connecting = new AbortController();
    const req: ClientRequest = httpRequest({
      method: 'GET',
      path: `${url.pathname}${url.search}`,
      headers,
      setHost: false,
      createConnection: ((_: unknown, oncreate: (error: Error | null, socket?: Socket) => void) => {
        options.connect(connecting.signal).then((transport) => {
          reads = transport.reads;
          oncreate(null, transport.socket as Socket);
        }, (error: Error) => oncreate(error));
        return undefined;
      }) as never,
    });

    let settled = false;
    const finish = (error: Error | null, value?: OpenedSocket): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        connecting.abort(error);
        req.destroy();
        reject(error);
      } else {
        resolve(value!);
      }
    };

    const timer = setTimeout(() => {
      finish(new HandshakeError('ERR_WS_HANDSHAKE_TIMEOUT', `Opening handshake timed out after ${options.handshakeTimeout} ms`));
    }, options.handshakeTimeout);
    const onAbort = (): void => finish(options.signal!.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (error) => {
      finish(error instanceof HandshakeError ? error : new HandshakeError('ERR_WS_CONNECTION_FAILED', `Connection failed: ${error.message}`, null, { cause: error }));
    });
    req.on('response', (res: IncomingMessage) => {
      res.resume(); // discard the body
      // Node's HTTP parser emits 'upgrade' only for a 101 carrying both "Upgrade" and "Connection:
      // upgrade"; a 101 lacking either lands here. Run the full check so that the message names the
      // missing header (and marks redirects) instead of a bare "Unexpected server response: 101".
      let message = `Unexpected server response: ${res.statusCode} ${res.statusMessage ?? ''}`.trim();
      let code: HandshakeErrorCode = 'ERR_WS_UNEXPECTED_RESPONSE';
      try {
        validateHandshakeResponse(
          { statusCode: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers },
          key,
          options.protocols,
          options.deflate?.offer ?? null,
        );
      } catch (error) {
        message = (error as Error).message;
        if (error instanceof HandshakeError) code = error.code;
      }
      const location = REDIRECTS.has(res.statusCode ?? 0) ? res.headers.location ?? null : null;
      finish(new HandshakeError(code, message, location));
    });
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      // Stop the socket before a single frame byte is read: reading starts with the readable's demand.
      socket.pause();
      if (settled) {
        socket.destroy();
        return;
      }
      try {
        const { protocol, extensions, deflate } = validateHandshakeResponse(
          { statusCode: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers },
          key,
          options.protocols,
          options.deflate?.offer ?? null,
        );
        const negotiated = deflate === null ? null : { params: deflate, tuning: options.deflate!.tuning };
        finish(null, { socket, head, protocol, extensions, deflate: negotiated, reads });
      } catch (error) {
        socket.destroy();
        finish(error instanceof HandshakeError ? error : new HandshakeError('ERR_WS_CONNECTION_FAILED', (error as Error).message, null, { cause: error }));
      }
    });
    req.end();
  });
}
