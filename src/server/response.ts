import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { computeAccept, type HeaderLines } from '../protocol/handshake.js';
import { ignore } from '../protocol/ignore.js';

/**
 * The two answers a server writes on a raw upgraded socket: 101 with the accept key, or an error
 * status with a plain-text body. Node's ServerResponse is not available after 'upgrade', so the
 * bytes are written by hand.
 */

export type { HeaderLines };

export function switchingProtocolsResponse(key: string, protocol: string, extensions: string, extra: HeaderLines): Buffer {
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${computeAccept(key)}`,
  ];
  if (protocol !== '') lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  if (extensions !== '') lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  for (const [name, value] of extra) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

export function errorResponse(status: number, message: string, extra: HeaderLines): Buffer {
  const body = Buffer.from(`${message}\n`, 'utf8');
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
  ];
  for (const [name, value] of extra) lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/**
 * Writes an error answer and ends our side of TCP. Whatever the client still sends is read and
 * dropped, so that its FIN is seen and the kernel does not answer unread bytes with a reset that
 * could destroy the response before the client reads it. A client that never closes is cut off
 * after `lingerMs`.
 */
export function refuseSocket(socket: Duplex, status: number, message: string, extra: HeaderLines, lingerMs: number): void {
  socket.on('error', ignore);
  if (socket.destroyed) return;
  if (!socket.writableEnded) socket.end(errorResponse(status, message, extra));
  socket.on('data', ignore);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref?.();
  socket.once('close', () => clearTimeout(timer));
}

export function statusText(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Error'}`;
}
