// A local WebSocket "flood" server shared by bench/slow-consumer.mjs and examples/demo.mjs,
// plus a raw TCP twin (startRawFloodServer) for the `floor` client of slow-consumer.
//
// For every connection it sends `totalBytes` as binary messages of `messageBytes`
// as fast as the TCP socket accepts them, then closes with code 1000.
//
// Why the send window: `ws.send()` never refuses data, it just queues it. A server
// that called send() 8192 times in a loop would hold the whole 512 MiB in its own
// memory. Instead we keep at most `windowMessages` sends whose callback has not
// fired yet; the callback fires once the frame has been handed to the kernel, so
// the server only ever buffers ~1 MiB and the real limit is the client's TCP window.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';

const HOST = '127.0.0.1';

/**
 * Start the flood server on 127.0.0.1 with an OS-assigned port.
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export async function startFloodServer({
  totalBytes,
  messageBytes = 64 * 1024,
  windowMessages = 16,
} = {}) {
  if (!(totalBytes > 0)) throw new Error('startFloodServer: totalBytes must be > 0');

  // One random (incompressible) payload, reused for every frame: server-to-client
  // frames are not masked, so ws sends the buffer as is and never modifies it.
  const payload = randomBytes(messageBytes);

  const server = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false });
  await once(server, 'listening');

  server.on('connection', (socket) => {
    // A client that is killed mid-flood produces ECONNRESET; that is expected here.
    socket.on('error', () => {});
    flood(socket, { payload, totalBytes, windowMessages });
  });

  const { port } = server.address();
  return {
    url: `ws://${HOST}:${port}/`,
    port,
    close: () => closeServer(server),
  };
}

/** Send `totalBytes` over `socket`, never more than `windowMessages` frames in flight. */
function flood(socket, { payload, totalBytes, windowMessages }) {
  let queuedBytes = 0; // bytes handed to ws.send()
  let inFlight = 0; // sends whose callback has not fired yet
  let closing = false;

  const onSent = (err) => {
    inFlight -= 1;
    if (err) {
      socket.terminate();
      return;
    }
    pump();
  };

  // Bounded: each call queues at most `windowMessages` frames.
  function pump() {
    while (inFlight < windowMessages && queuedBytes < totalBytes && socket.readyState === WebSocket.OPEN) {
      const size = Math.min(payload.length, totalBytes - queuedBytes);
      queuedBytes += size;
      inFlight += 1;
      socket.send(size === payload.length ? payload : payload.subarray(0, size), { binary: true }, onSent);
    }
    // Everything has reached the kernel: say goodbye with a normal closure.
    if (!closing && queuedBytes >= totalBytes && inFlight === 0 && socket.readyState === WebSocket.OPEN) {
      closing = true;
      socket.close(1000, 'done');
    }
  }

  pump();
}

/** Stop accepting, drop live connections, resolve once the server is closed. */
function closeServer(server) {
  for (const client of server.clients) client.terminate();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * The same flood over raw TCP, no WebSocket framing: `totalBytes` in writes of
 * `writeBytes`, then end(). After any write() that returns false it waits for
 * 'drain', so the server buffers about one write and the client's TCP window is
 * again the only limit. Used to measure the runtime's own memory floor.
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export async function startRawFloodServer({ totalBytes, writeBytes = 1024 * 1024 } = {}) {
  if (!(totalBytes > 0)) throw new Error('startRawFloodServer: totalBytes must be > 0');
  const payload = randomBytes(writeBytes);
  const sockets = new Set();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // a client killed mid-flood resets the connection
    let sent = 0;
    // Bounded: returns at the first write the socket does not take at once.
    const pump = () => {
      while (sent < totalBytes) {
        const size = Math.min(payload.length, totalBytes - sent);
        sent += size;
        if (!socket.write(size === payload.length ? payload : payload.subarray(0, size))) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  });
  server.listen(0, HOST);
  await once(server, 'listening');

  const { port } = server.address();
  return {
    url: `tcp://${HOST}:${port}`,
    port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
