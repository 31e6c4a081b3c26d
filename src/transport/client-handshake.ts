import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { generateKey, validateHandshakeResponse } from '../protocol/handshake.js';
import { formatOffer, type ClientDeflateOffer, type DeflateParams, type DeflateTuning } from '../protocol/permessage-deflate.js';
import { SocketReads } from './socket-reads.js';

/** permessage-deflate as agreed in the handshake, with our tuning for it. */
export interface NegotiatedDeflate {
  params: DeflateParams;
  tuning: DeflateTuning;
}

export interface ClientHandshakeOptions {
  protocols: readonly string[];
  headers: Record<string, string>;
  tls: Pick<TlsConnectionOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
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

/** Raised when the opening handshake fails; the message says why. */
export class HandshakeError extends Error {
  override name = 'HandshakeError';
}

/**
 * Opens the TCP (or TLS) connection and performs the client's opening handshake (RFC 6455 4.1).
 * Node's HTTP client parses the response; we check the parts RFC 6455 cares about.
 * Rejects with the signal's reason when `signal` aborts first.
 */
export function openClientSocket(url: URL, options: ClientHandshakeOptions): Promise<OpenedSocket> {
  return new Promise((resolve, reject) => {
    const key = generateKey();
    const secure = url.protocol === 'wss:';
    const headers: Record<string, string> = {
      ...options.headers,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Version': '13',
    };
    if (options.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = options.protocols.join(', ');
    if (options.deflate !== null) headers['Sec-WebSocket-Extensions'] = formatOffer(options.deflate.offer);

    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
    const requestOptions = { method: 'GET', host, port, path: `${url.pathname}${url.search}`, headers };
    // The socket leaves HTTP after the upgrade: no pooling, no keep-alive agent. Plain TCP gets a
    // socket of our own whose reads we place (SocketReads); TLS keeps Node's reads.
    const reads = secure ? null : new SocketReads();
    const req: ClientRequest = reads === null
      ? httpsRequest({ ...requestOptions, agent: false, ...options.tls })
      : httpRequest({ ...requestOptions, createConnection: () => reads.connect(host, port) });

    let settled = false;
    const finish = (error: Error | null, value?: OpenedSocket): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        req.destroy();
        reject(error);
      } else {
        resolve(value!);
      }
    };

    const timer = setTimeout(() => {
      finish(new HandshakeError(`Opening handshake timed out after ${options.handshakeTimeout} ms`));
    }, options.handshakeTimeout);
    const onAbort = (): void => finish(options.signal!.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (error) => finish(new HandshakeError(`Connection failed: ${error.message}`)));
    req.on('response', (res: IncomingMessage) => {
      res.resume(); // discard the body
      // Node's HTTP parser emits 'upgrade' only for a 101 carrying both "Upgrade" and "Connection:
      // upgrade"; a 101 lacking either lands here. Run the full check so that the message names the
      // missing header (and marks redirects) instead of a bare "Unexpected server response: 101".
      let message = `Unexpected server response: ${res.statusCode} ${res.statusMessage ?? ''}`.trim();
      try {
        validateHandshakeResponse(
          { statusCode: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers },
          key,
          options.protocols,
          options.deflate?.offer ?? null,
        );
      } catch (error) {
        message = (error as Error).message;
      }
      finish(new HandshakeError(message));
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
        finish(new HandshakeError((error as Error).message));
      }
    });
    req.end();
  });
}
