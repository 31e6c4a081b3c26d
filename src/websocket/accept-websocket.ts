import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { acceptWebSocketStream } from '../server/accept.js';
import type { AcceptOptions } from '../server/options.js';
import { ADAPTER_STREAM_OPTIONS, wrapWebSocketStream, type WebSocket } from './websocket.js';

/**
 * The server side for code that prefers events: accepts an upgrade like acceptWebSocketStream()
 * and hands back the classic WebSocket (already CONNECTING; `open` fires once the 101 is sent).
 */
export function acceptWebSocket(
  request: IncomingMessage,
  socket: Duplex,
  head?: Buffer | Uint8Array,
  options?: Omit<AcceptOptions, keyof typeof ADAPTER_STREAM_OPTIONS>,
): WebSocket {
  return wrapWebSocketStream(acceptWebSocketStream(request, socket, head, { ...options, ...ADAPTER_STREAM_OPTIONS }));
}
