import { randomBytes } from 'node:crypto';
import type { Connection } from '../transport/connection.js';
import { connectionOf, type WebSocketStream } from './websocket-stream.js';

interface PendingPing {
  payload: Buffer;
  sentAt: number;
  resolve: (milliseconds: number) => void;
  reject: (error: unknown) => void;
}

/** The pings still waiting for their pong, per connection, oldest first. */
const pending = new WeakMap<Connection, PendingPing[]>();

/**
 * Node extension (not in the standard): sends a Ping frame and resolves with the round trip in
 * milliseconds once the peer's Pong arrives. The payload (at most 125 bytes) defaults to 8 random
 * bytes, which tell our pings apart. A Pong also answers the pings sent before its own, since a
 * peer may answer only the latest of several (RFC 6455, 5.5.3).
 *
 * The Pong travels behind the messages the peer sent before it: while the readable is full and
 * reading paused, it waits with them, and the round trip includes that wait.
 *
 * Rejects with an `InvalidStateError` DOMException when the connection is not open (not yet, or
 * closing), or when it closes before the Pong arrives.
 */
export function sendPing(wss: WebSocketStream, payload?: Uint8Array): Promise<number> {
  const connection = connectionOf(wss);
  if (connection === null) return Promise.reject(notOpen('The WebSocket is not open yet'));
  if (payload !== undefined && !(payload instanceof Uint8Array)) return Promise.reject(new TypeError('A ping payload must be a Uint8Array'));
  const data = payload === undefined ? randomBytes(8) : Buffer.from(payload);
  if (data.byteLength > 125) return Promise.reject(new RangeError('A ping payload is at most 125 bytes'));
  if (!connection.ping(data)) return Promise.reject(notOpen('The WebSocket is closing or closed'));

  let waiting = pending.get(connection);
  if (waiting === undefined) {
    const list: PendingPing[] = [];
    waiting = list;
    pending.set(connection, list);
    connection.onPong = (pong) => answer(list, pong);
    const fail = (): void => {
      for (const ping of list.splice(0)) ping.reject(notOpen('The WebSocket closed before the pong arrived'));
    };
    wss.closed.then(fail, fail);
  }
  const list = waiting;
  return new Promise((resolve, reject) => list.push({ payload: data, sentAt: performance.now(), resolve, reject }));
}

/** A Pong arrived: it answers the ping with its payload and every ping sent before that one. */
function answer(list: PendingPing[], pong: Uint8Array): void {
  const index = list.findIndex((ping) => ping.payload.equals(pong));
  if (index === -1) return; // unsolicited (a heartbeat) or not ours
  const now = performance.now();
  for (const ping of list.splice(0, index + 1)) ping.resolve(now - ping.sentAt);
}

function notOpen(message: string): DOMException {
  return new DOMException(message, 'InvalidStateError');
}
