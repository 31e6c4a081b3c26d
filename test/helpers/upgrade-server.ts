// Our server side under test: an http server on 127.0.0.1, port 0, whose 'upgrade' events go to
// the test's callback (which accepts them with acceptWebSocketStream or answers them itself).
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface UpgradeServer {
  port: number;
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** An http server on 127.0.0.1:0 whose 'upgrade' events go to `onUpgrade`. */
export async function startUpgradeServer(
  onUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void,
  onRequest?: RequestListener,
): Promise<UpgradeServer> {
  const server = onRequest ? createServer(onRequest) : createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    server,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Reads a readable to its end (bounded by `limit` chunks). */
export async function readAll<T>(readable: ReadableStream<T>, limit = 100_000): Promise<T[]> {
  const chunks: T[] = [];
  const reader = readable.getReader();
  for (let i = 0; i < limit; i++) {
    const { value, done } = await reader.read();
    if (done) return chunks;
    chunks.push(value);
  }
  throw new Error(`more than ${limit} chunks`);
}
