// A fault soak: many clients against our serve() echo server through a small TCP relay that
// injects faults, each connection's fate drawn from a seeded generator: resets, half-closes,
// stalls and truncations at random byte counts, in either direction. Shared by
// bench/fault-soak.mjs (printed figures) and test/fault-soak.test.ts (a short run in `npm test`).
//
// What it checks: the server stays up and serves; every connection that survives gets all its
// echoes complete and in order (sequence numbers), and the server saw every connection's messages
// in order; no unhandled rejection or uncaught exception; after every connection has ended the
// heap returns to its baseline (after a forced GC; the caller provides `gc`).

import { createServer, connect } from 'node:net';

/** mulberry32: a small seeded generator, so a failing soak can be replayed exactly. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FAULTS = ['none', 'reset', 'half-close', 'stall', 'truncate'];

/**
 * A TCP relay from `listen` to `target` that applies one fault per connection, drawn from `random`:
 * after a random number of bytes in a random direction it resets both sides, half-closes the
 * target, stalls that direction for a while, or forwards nothing more and drops both sides.
 */
export async function startFaultRelay(targetPort, random, { faultRate = 0.5, maxFaultAt = 4000, maxStallMs = 1500 } = {}) {
  const sockets = new Set();
  const counts = Object.fromEntries(FAULTS.map((f) => [f, 0]));
  const server = createServer((client) => {
    const fault = random() < faultRate ? FAULTS[1 + Math.floor(random() * (FAULTS.length - 1))] : 'none';
    const faultAt = Math.floor(random() * maxFaultAt);
    const upstreamDirection = random() < 0.5; // the fault hits client->server bytes, or server->client
    const stallMs = Math.floor(random() * maxStallMs);
    counts[fault]++;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.once('close', () => sockets.delete(s));
    }
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    let faulted = fault === 'none';
    const pipe = (from, to, faulty) => {
      let seen = 0;
      from.on('data', (chunk) => {
        if (!faulty || faulted) {
          if (!to.destroyed && !to.write(chunk)) from.pause();
          return;
        }
        seen += chunk.length;
        if (seen < faultAt) {
          if (!to.destroyed && !to.write(chunk)) from.pause();
          return;
        }
        faulted = true;
        const cut = chunk.length - (seen - faultAt);
        if (fault === 'reset') {
          to.write(chunk.subarray(0, cut));
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        } else if (fault === 'half-close') {
          to.end(chunk.subarray(0, cut));
        } else if (fault === 'truncate') {
          to.write(chunk.subarray(0, cut), () => {
            client.destroy();
            upstream.destroy();
          });
        } else {
          // stall: hold this direction (the kernel buffers fill, the sender stalls), then go on.
          from.pause();
          setTimeout(() => {
            if (!to.destroyed) to.write(chunk);
            from.resume();
          }, stallMs).unref();
        }
      });
      to.on('drain', () => from.resume());
      from.on('end', () => {
        if (!to.destroyed) to.end();
      });
    };
    pipe(client, upstream, upstreamDirection);
    pipe(upstream, client, !upstreamDirection);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    counts,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Runs the soak with the library `lib` ({ serve, WebSocketStream }), returns its figures.
 * `gc` forces a full GC (needed for the heap figures).
 */
export async function runFaultSoak(lib, { clients = 200, messages = 50, size = 256, seed = 1, gc, timeoutMs = 60_000 } = {}) {
  const random = seededRandom(seed);
  const problems = [];
  const onUnhandled = (reason) => problems.push(`unhandled rejection: ${reason?.stack ?? reason}`);
  const onUncaught = (error) => problems.push(`uncaught exception: ${error?.stack ?? error}`);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUncaught);
  const serverOrder = { inOrder: 0, outOfOrder: 0 };
  const server = await lib.serve({ host: '127.0.0.1', handshakeTimeout: 3000, closeTimeout: 2000, onError() {} }, async (wss) => {
    const { readable, writable } = await wss.opened;
    const writer = writable.getWriter();
    let expected = 0;
    try {
      for await (const message of readable) {
        const seq = Number(message.slice(0, message.indexOf(':')));
        if (seq === expected) serverOrder.inOrder++;
        else serverOrder.outOfOrder++;
        expected = seq + 1;
        await writer.write(message);
      }
      await writer.close();
    } catch {
      // the relay broke this connection: expected
    }
  });
  const relay = await startFaultRelay(server.port, random);
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);

  const padding = 'x'.repeat(size);
  const outcome = { complete: 0, failed: 0, incompleteWithoutError: 0, outOfOrder: 0 };
  const one = async () => {
    const ws = new lib.WebSocketStream(`ws://127.0.0.1:${relay.port}/`, { handshakeTimeout: 3000, closeTimeout: 2000, perMessageDeflate: false });
    const deadline = setTimeout(() => ws.close(), timeoutMs / 2);
    try {
      const { readable, writable } = await ws.opened;
      const writer = writable.getWriter();
      const reader = readable.getReader();
      let received = 0;
      const reading = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          const seq = Number(value.slice(0, value.indexOf(':')));
          if (seq !== received) outcome.outOfOrder++;
          received++;
          if (received === messages) return;
        }
      })();
      for (let i = 0; i < messages; i++) await writer.write(`${i}:${padding}`);
      await reading;
      ws.close();
      await ws.closed;
      if (received === messages) outcome.complete++;
      else outcome.incompleteWithoutError++;
    } catch {
      outcome.failed++;
      ws.close();
    } finally {
      clearTimeout(deadline);
      await ws.closed.catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: clients }, one));
  const elapsedMs = performance.now() - started;

  // The server must still serve a well-behaved client directly.
  const check = new lib.WebSocketStream(server.url, { perMessageDeflate: false });
  const { readable, writable } = await check.opened;
  await writable.getWriter().write('0:still serving');
  const { value } = await readable.getReader().read();
  const serverAlive = value === '0:still serving';
  check.close();
  await check.closed.catch(() => {});

  await relay.close();
  const closing = server.close();
  await closing;
  clearInterval(sampler);
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc?.();
  }
  const heapAfter = process.memoryUsage().heapUsed;
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUncaught);
  return {
    clients,
    messages,
    seed,
    faults: relay.counts,
    outcome,
    serverOrder,
    serverAlive,
    problems,
    elapsedMs: Math.round(elapsedMs),
    heapBeforeMiB: heapBefore / 2 ** 20,
    heapAfterMiB: heapAfter / 2 ** 20,
    heapGrowthMiB: (heapAfter - heapBefore) / 2 ** 20,
    peakRssMiB: peakRss / 2 ** 20,
  };
}
