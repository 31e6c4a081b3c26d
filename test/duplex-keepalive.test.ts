// Both ends send bulk data to each other, read everything, and ping each other often (keepalive).
// Their socket buffers are above the high-water mark most of the time, so a ping usually arrives
// while its pong cannot be written at once. An end that stopped reading until that pong went out
// could deadlock with another that did the same: neither buffer would drain, and the keepalives
// would end a healthy connection (with that rule, this test failed in 2 of 4 runs).
// Reading goes on while a pong waits, so both directions keep moving.
import { afterEach, describe, expect, it } from 'vitest';
import { acceptWebSocketStream, WebSocketStream, type WebSocketOpenInfo } from '../src/index.js';
import { delay, withTimeout } from './helpers/timing.js';
import { startUpgradeServer, type UpgradeServer } from './helpers/upgrade-server.js';

const MESSAGE_BYTES = 64 * 1024;
const RUN_MS = 5000;
/** A deadlock is for ever; a busy machine may pause both ends for a moment, not for this long. */
const STALL_MS = 1000;
const KEEPALIVE = { keepaliveInterval: 5, keepaliveTimeout: 1500 };

let server: UpgradeServer | undefined;
const streams: WebSocketStream[] = [];

afterEach(async () => {
  for (const wss of streams.splice(0)) wss.close();
  await server?.close();
  server = undefined;
});

/** Bytes received so far, and the first failure seen on this end. */
interface End {
  received: number;
  failure: string | null;
}

/** Sends 64 KiB messages as fast as writer.ready allows and reads everything, until `stop()`. */
function pump({ readable, writable }: WebSocketOpenInfo, end: End, stopped: () => boolean): Promise<void> {
  const reading = (async () => {
    const reader = readable.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      end.received += (value as Uint8Array).byteLength;
    }
  })();
  const writing = (async () => {
    const writer = writable.getWriter();
    while (!stopped()) {
      await writer.ready; // rejects once the connection fails: the loop then ends
      writer.write(new Uint8Array(MESSAGE_BYTES)).catch(() => {});
    }
    writer.releaseLock();
  })();
  return Promise.all([reading, writing]).then(
    () => {},
    (error: Error) => {
      end.failure ??= error.message;
    },
  );
}

describe('bulk both ways with keepalive pings both ways', () => {
  it('both directions keep moving, and neither keepalive ends the connection', async () => {
    let stop = false;
    const stopped = () => stop;
    const serverEnd: End = { received: 0, failure: null };
    const clientEnd: End = { received: 0, failure: null };
    server = await startUpgradeServer((request, socket, head) => {
      const wss = acceptWebSocketStream(request, socket, head, KEEPALIVE);
      streams.push(wss);
      wss.opened.then((pair) => pump(pair, serverEnd, stopped), () => {});
      wss.closed.catch((error: Error) => (serverEnd.failure ??= error.message));
    });
    const client = new WebSocketStream(server.url, KEEPALIVE);
    streams.push(client);
    client.closed.catch((error: Error) => (clientEnd.failure ??= error.message));
    const pair = await withTimeout(client.opened, 5000, 'opened');
    void pump(pair, clientEnd, stopped);

    // Every STALL_MS both ends must have received more than before: a deadlock shows as a stall
    // before the keepalive timeout turns it into a failure.
    let last = { server: 0, client: 0 };
    for (let waited = 0; waited < RUN_MS; waited += STALL_MS) {
      await delay(STALL_MS);
      expect(clientEnd.failure).toBeNull();
      expect(serverEnd.failure).toBeNull();
      expect(serverEnd.received, `the server received nothing more after ${waited + STALL_MS} ms`).toBeGreaterThan(last.server);
      expect(clientEnd.received, `the client received nothing more after ${waited + STALL_MS} ms`).toBeGreaterThan(last.client);
      last = { server: serverEnd.received, client: clientEnd.received };
    }
    stop = true;
    client.close({ closeCode: 1000, reason: 'done' });
    expect(await withTimeout(client.closed, 10_000, 'closed')).toEqual({ closeCode: 1000, reason: 'done' });
  }, 30_000);
});
