import type { Server } from 'node:http';
import type { Socket } from 'node:net';

const kDeadline = Symbol('websocketstream.requestDeadline');
type TimedSocket = Socket & { [kDeadline]?: NodeJS.Timeout };

/**
 * Drops every connection whose upgrade request has not fully arrived `ms` after it was accepted.
 * node:http owns the request head until it emits 'upgrade', and its own `headersTimeout` (60 s by
 * default, checked every 30 s) is far too lax for a WebSocket server: a client that opens a
 * connection and sends half a request (slowloris) would otherwise hold a socket for a minute.
 * This is a deadline, not an idle timer: trickling a byte now and then does not extend it. A plain
 * HTTP request does not stop it either (serve() answers those with 426, nothing more is expected).
 */
export function enforceRequestDeadline(server: Server, ms: number): void {
  server.on('connection', (socket: TimedSocket) => {
    const timer = setTimeout(dropLateSocket, ms, socket);
    timer.unref();
    socket[kDeadline] = timer;
    socket.once('close', clearDeadline);
  });
  server.on('upgrade', (_request: unknown, socket: TimedSocket) => clearDeadline.call(socket));
}

function dropLateSocket(socket: Socket): void {
  socket.destroy();
}

function clearDeadline(this: TimedSocket): void {
  const timer = this[kDeadline];
  if (timer === undefined) return;
  clearTimeout(timer);
  delete this[kDeadline];
}
