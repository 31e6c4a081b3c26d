// The core promise of the library: a client that does not read stalls the SENDER (its own buffers
// grow, ours do not), and nothing is lost when reading resumes. On the write side, write() resolves
// only once the socket took the message, so a peer that stops reading stalls our producer.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { WebSocketError, WebSocketStream } from '../src/index.js';
import { cleanup, onCleanup } from './helpers/cleanup.js';
import { delay, NOT_SETTLED, settledWithin, withTimeout } from './helpers/timing.js';
import { startWsPeer, waitForStall } from './helpers/ws-peer.js';
import { bundleLibrary, removeBundles } from './helpers/node-process.js';

afterEach(cleanup);

const KiB = 1024;
const MiB = 1024 * 1024;
const MESSAGE = 64 * KiB;
/** Bytes of a 64 KiB binary frame from the server: 2-byte header, 8-byte extended length. */
const FRAME = MESSAGE + 10;

type Chunk = string | Uint8Array | ArrayBuffer;

function message(seq: number, size = MESSAGE): Buffer {
  const bytes = Buffer.alloc(size, seq & 0xff);
  bytes.writeUInt32BE(seq, 0);
  return bytes;
}

function seqOf(chunk: Chunk): number {
  const bytes = chunk as Uint8Array;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
}

/**
 * Sends `count` 64 KiB messages with sequence numbers, a few per macrotask so the socket gets to
 * flush between them. Returns the total frame bytes handed to ws.
 */
async function flood(ws: WebSocket, count: number): Promise<number> {
  let sent = 0;
  for (let seq = 0; seq < count; seq++) {
    ws.send(message(seq));
    sent += FRAME;
    if (seq % 8 === 7) await nextMacrotask();
  }
  return sent;
}

/** The default strategy (one chunk), with a size() that counts the chunks that enter the queue. */
function countingStrategy(): { strategy: QueuingStrategy<Chunk>; queued: () => number } {
  let queued = 0;
  return {
    // size() runs for each chunk that goes into the queue (not for one handed straight to a read).
    strategy: { highWaterMark: 1, size: () => ++queued && 1 },
    queued: () => queued,
  };
}

describe('read side: the client stops reading, the server stalls', () => {
  it('the server\'s own buffer grows while the client queue holds one message; then every message arrives in order', async () => {
    const COUNT = 512; // 32 MiB
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const { strategy, queued } = countingStrategy();
    const stream = new WebSocketStream(server.url, { readableStrategy: strategy });
    onCleanup(() => stream.close());
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await serverWs;

    let sent = 0;
    const sending = (async () => {
      for (let seq = 0; seq < COUNT; seq++) {
        ws.send(message(seq));
        sent += FRAME;
        if (seq % 8 === 7) await nextMacrotask();
      }
    })();
    await withTimeout(sending, 10_000, 'the server to queue its messages');
    const flushed = await waitForStall(ws, () => sent);

    // The sender stalled: most of what it sent is still in its own buffers (the client's kernel
    // receive buffer filled and TCP's window closed), although the client has asked for nothing.
    expect(ws.bufferedAmount).toBeGreaterThan(16 * MiB);
    expect(flushed).toBeLessThan(sent - 16 * MiB);
    // The client's queue holds the one message the default strategy allows.
    expect(queued()).toBe(1);
    // And it stays that way: nothing moves while nobody reads.
    await delay(300);
    expect(sent - ws.bufferedAmount).toBe(flushed);
    expect(queued()).toBe(1);

    // Reading resumes: every message, in order, nothing lost.
    const reader = readable.getReader();
    for (let seq = 0; seq < COUNT; seq++) {
      const { done, value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
      expect(done).toBe(false);
      expect(seqOf(value!)).toBe(seq);
      expect((value as Uint8Array).byteLength).toBe(MESSAGE);
    }
    expect(ws.bufferedAmount).toBe(0);
    ws.close(1000);
    expect(await withTimeout(reader.read(), 5_000, 'the end')).toEqual({ done: true, value: undefined });
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1000, reason: '' });
  });

  it('with a ByteLengthQueuingStrategy of 1 MiB the queue holds about 1 MiB before reading pauses', async () => {
    const COUNT = 256; // 16 MiB
    // A real ByteLengthQueuingStrategy, whose size() also adds up what enters the queue.
    let queuedBytes = 0;
    let queuedChunks = 0;
    class MeasuredStrategy extends ByteLengthQueuingStrategy {
      override get size(): (chunk: ArrayBufferView) => number {
        const byteLength = super.size;
        return (chunk) => {
          queuedChunks++;
          queuedBytes += byteLength(chunk);
          return byteLength(chunk);
        };
      }
    }
    const strategy = new MeasuredStrategy({ highWaterMark: 1 * MiB });
    expect(strategy).toBeInstanceOf(ByteLengthQueuingStrategy);

    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = new WebSocketStream(server.url, { readableStrategy: strategy as QueuingStrategy<Chunk> });
    onCleanup(() => stream.close());
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await serverWs;
    let sent = 0;
    const sending = flood(ws, COUNT).then((total) => (sent = total));
    await withTimeout(sending, 10_000, 'the server to queue its messages');
    await waitForStall(ws, () => sent);

    // Reading stops once desiredSize reaches 0: 16 messages of 64 KiB, exactly the budget.
    expect(queuedBytes).toBeGreaterThanOrEqual(1 * MiB);
    expect(queuedBytes).toBeLessThan(1 * MiB + MESSAGE);
    expect(queuedChunks).toBe(16);
    expect(ws.bufferedAmount).toBeGreaterThan(4 * MiB);

    const reader = readable.getReader();
    for (let seq = 0; seq < COUNT; seq++) {
      const { value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
      expect(seqOf(value!)).toBe(seq);
    }
  });

  it('small messages are read ahead of the queue by a bounded amount: at most 64 messages and 64 KiB', async () => {
    // 64 messages of up to 16 KiB, or 64 KiB of them, past the queue's limit: pull() then runs
    // once per batch rather than per message (docs/backpressure.md). Larger messages are never
    // read ahead: the queue holds exactly its one message.
    for (const [size, least, most] of [[16, 2, 1 + 64], [4096, 2, 1 + 16], [20_000, 1, 1]] as const) {
      const COUNT = size > 1024 ? 500 : 5_000;
      const server = await startWsPeer();
      const serverWs = server.nextConnection();
      const { strategy, queued } = countingStrategy();
      const stream = new WebSocketStream(server.url, { readableStrategy: strategy });
      onCleanup(() => stream.close());
      const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
      const ws = await serverWs;
      for (let seq = 0; seq < COUNT; seq++) ws.send(message(seq, size));
      await delay(300);
      // Far fewer than were sent (all of them fit in the kernel's buffers), and within the bound.
      expect(queued(), `${size} B`).toBeGreaterThanOrEqual(least);
      expect(queued(), `${size} B`).toBeLessThanOrEqual(most);
      const reader = readable.getReader();
      for (let seq = 0; seq < COUNT; seq++) {
        const { value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
        expect(seqOf(value!)).toBe(seq);
      }
      reader.releaseLock();
    }
  });

  it('applies from the start: with a highWaterMark of 0 nothing is taken until read() is called', async () => {
    const COUNT = 256; // 16 MiB
    let queued = 0;
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = new WebSocketStream(server.url, {
      readableStrategy: { highWaterMark: 0, size: () => ++queued && 1 },
    });
    onCleanup(() => stream.close());
    const ws = await serverWs;
    let sent = 0;
    const sending = flood(ws, COUNT).then((total) => (sent = total)); // before opened even resolves
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    await withTimeout(sending, 10_000, 'the server to queue its messages');
    await waitForStall(ws, () => sent);
    expect(queued).toBe(0);
    expect(ws.bufferedAmount).toBeGreaterThan(4 * MiB);
    const reader = readable.getReader();
    for (let seq = 0; seq < COUNT; seq++) {
      const { value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
      expect(seqOf(value!)).toBe(seq);
    }
  });

  it('control frames wait behind the unread data: a ping is answered once reading reaches it', async () => {
    const COUNT = 256; // 16 MiB, far more than the kernel buffers hold
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = new WebSocketStream(server.url);
    onCleanup(() => stream.close());
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await serverWs;
    let pongs = 0;
    ws.on('pong', () => pongs++);
    await flood(ws, COUNT);
    ws.ping('behind the data');
    await delay(300);
    expect(pongs).toBe(0); // documented: the ping is still in the server's buffer or our kernel's
    const reader = readable.getReader();
    for (let seq = 0; seq < COUNT; seq++) {
      const { value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
      expect(seqOf(value!)).toBe(seq);
    }
    await withTimeout((async () => {
      while (pongs === 0) await delay(10);
    })(), 5_000, 'the pong');
  });

  it('reading resumes where it stopped, across many stalls', async () => {
    const COUNT = 300;
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = new WebSocketStream(server.url);
    onCleanup(() => stream.close());
    const { readable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await serverWs;
    const sending = flood(ws, COUNT);
    const reader = readable.getReader();
    for (let seq = 0; seq < COUNT; seq++) {
      if (seq % 50 === 0) await delay(50); // a consumer that stalls now and then
      const { value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
      expect(seqOf(value!)).toBe(seq);
    }
    await withTimeout(sending, 5_000, 'the sender');
  });

  describe('in a separate process, so that memory is the client\'s alone', () => {
    let bundle: string;
    beforeAll(async () => {
      bundle = await bundleLibrary();
    }, 60_000);
    afterAll(removeBundles);

    it('the client\'s ArrayBuffer memory stays bounded while the server piles up tens of MiB', async () => {
      const COUNT = 768; // 48 MiB
      const server = await startWsPeer();
      const serverWs = server.nextConnection();
      // The child reads one message, then nothing until told; it reports its memory on request.
      const script = `
        import { createInterface } from 'node:readline';
        const { WebSocketStream } = await import(${JSON.stringify(new URL(`file://${bundle}`).href)});
        const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
        const stream = new WebSocketStream(${JSON.stringify(server.url)});
        const { readable } = await stream.opened;
        const reader = readable.getReader();
        await reader.read();
        console.log('ready');
        await lines.next();                       // "measure"
        globalThis.gc();
        console.log(JSON.stringify(process.memoryUsage()));
        await lines.next();                       // "drain"
        let expected = 1;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const seq = new DataView(value.buffer, value.byteOffset).getUint32(0);
          if (seq !== expected) throw new Error('got ' + seq + ', expected ' + expected);
          expected++;
        }
        const closed = await stream.closed;
        console.log('received ' + expected + ' ' + closed.closeCode);
      `;
      const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
      onCleanup(() => {
        child.kill();
      });
      let stderr = '';
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const nextLine = async (what: string): Promise<string> => {
        const line = await withTimeout(lines.next(), 15_000, `${what} (child stderr: ${stderr})`);
        if (line.done) throw new Error(`The child ended early: ${stderr}`);
        return line.value;
      };

      const ws = await serverWs;
      let sent = 0;
      const sending = flood(ws, COUNT).then((total) => (sent = total));
      expect(await nextLine('ready')).toBe('ready');
      await withTimeout(sending, 15_000, 'the server to queue its messages');
      await waitForStall(ws, () => sent);
      expect(ws.bufferedAmount).toBeGreaterThan(24 * MiB);

      child.stdin.write('measure\n');
      const memory = JSON.parse(await nextLine('memory')) as NodeJS.MemoryUsage;
      // One queued 64 KiB message, the parser's rest of one socket read, Node's socket buffer: a
      // few hundred KiB. A client that buffered everything would hold the 24+ MiB the server could
      // not send, and the kernel's share on top.
      expect(memory.arrayBuffers, JSON.stringify(memory)).toBeLessThan(4 * MiB);
      console.log(`client arrayBuffers ${(memory.arrayBuffers / KiB).toFixed(0)} KiB while the server holds ${(ws.bufferedAmount / MiB).toFixed(1)} MiB`);

      child.stdin.end('drain\n'); // ending stdin also lets the child exit
      ws.close(1000);
      expect(await nextLine('the count')).toBe(`received ${COUNT} 1000`);
      expect(await withTimeout(exited, 5_000, 'the child to exit')).toBe(0);
    });
  });
});

describe('write side: the server stops reading, the client\'s writes stall', () => {
  it('writer.ready and write promises stop resolving while the server is paused, and resume after', async () => {
    const LIMIT = 2048; // at most 128 MiB: the loop is bounded even if nothing stalls
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = new WebSocketStream(server.url);
    onCleanup(() => stream.close());
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await serverWs;
    ws.pause(); // the server's socket is not read: its kernel buffer, then ours, fill up
    const received: number[] = [];
    ws.on('message', (data) => received.push((data as Buffer).readUInt32BE(0)));

    const writer = writable.getWriter();
    const writes: Array<Promise<void>> = [];
    let resolved = 0;
    let stalledAt = -1;
    for (let seq = 0; seq < LIMIT; seq++) {
      if ((await settledWithin(writer.ready, 1_000)) === NOT_SETTLED) {
        stalledAt = seq;
        break;
      }
      const write = writer.write(message(seq));
      write.then(() => resolved++, () => {});
      writes.push(write);
    }

    // The producer stalled after a bounded amount: the kernel's buffers, not 128 MiB.
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(LIMIT);
    expect(stalledAt * MESSAGE).toBeLessThan(64 * MiB);
    // The last write was never taken by the socket: its promise is pending, as is writer.ready.
    const last = writes[writes.length - 1]!;
    expect(await settledWithin(last, 500)).toBe(NOT_SETTLED);
    expect(resolved).toBe(writes.length - 1);
    expect(await settledWithin(writer.ready, 0)).toBe(NOT_SETTLED);
    expect(received).toHaveLength(0);

    // The server reads again: the pending write resolves, the producer goes on to the end.
    ws.resume();
    await withTimeout(last, 10_000, 'the stalled write');
    const TOTAL = stalledAt + 64;
    for (let seq = stalledAt; seq < TOTAL; seq++) {
      await withTimeout(writer.ready, 10_000, 'writer.ready');
      writes.push(writer.write(message(seq)));
    }
    await withTimeout(Promise.all(writes), 10_000, 'all writes');
    await withTimeout((async () => {
      while (received.length < TOTAL) await delay(10);
    })(), 10_000, 'the server to receive everything');
    expect(received).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
  });

  it('with a writableStrategy of 4 messages, writer.ready still stalls once the socket stops taking data', async () => {
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = new WebSocketStream(server.url, { writableStrategy: new CountQueuingStrategy({ highWaterMark: 4 }) });
    onCleanup(() => stream.close());
    const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await serverWs;
    ws.pause();
    let count = 0;
    ws.on('message', () => count++);
    const writer = writable.getWriter();
    let stalledAt = -1;
    for (let seq = 0; seq < 2048; seq++) {
      if ((await settledWithin(writer.ready, 1_000)) === NOT_SETTLED) {
        stalledAt = seq;
        break;
      }
      void writer.write(message(seq)).catch(() => {});
    }
    expect(stalledAt).toBeGreaterThan(4);
    expect(stalledAt).toBeLessThan(2048);
    ws.resume();
    await withTimeout(writer.ready, 10_000, 'writer.ready after resume');
    await withTimeout(writer.close(), 10_000, 'writer.close()');
    expect(count).toBe(stalledAt);
  });

  it('writer.close() keeps read backpressure: the rest is read before closed resolves', async () => {
    const COUNT = 128; // 8 MiB, more than the kernel buffers hold
    const server = await startWsPeer();
    const serverWs = server.nextConnection();
    const stream = new WebSocketStream(server.url);
    onCleanup(() => stream.close());
    const { readable, writable } = await withTimeout(stream.opened, 5_000, 'opened');
    const ws = await serverWs;
    await flood(ws, COUNT);
    const writer = writable.getWriter();
    const closing = writer.close(); // our Close waits behind nothing; the server's reply waits behind its data
    expect(await settledWithin(closing, 300)).toBe(NOT_SETTLED);
    const reader = readable.getReader();
    for (let seq = 0; seq < COUNT; seq++) {
      const { value } = await withTimeout(reader.read(), 10_000, `message ${seq}`);
      expect(seqOf(value!)).toBe(seq);
    }
    expect(await withTimeout(reader.read(), 5_000, 'the end')).toEqual({ done: true, value: undefined });
    await withTimeout(closing, 5_000, 'writer.close()');
    expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({ closeCode: 1005, reason: '' });
  });

  // close() and abort() mean the application is done: the peer's Close reply must not wait behind
  // data nobody will read, or `closed` would only settle (uncleanly) after closeTimeout.
  for (const how of ['close()', 'writable.abort()'] as const) {
    it(`${how} with a full, unread queue still completes the closing handshake promptly`, async () => {
      const COUNT = 128; // 8 MiB, more than the kernel buffers hold
      const server = await startWsPeer();
      const serverWs = server.nextConnection();
      const stream = new WebSocketStream(server.url, { closeTimeout: 20_000 });
      onCleanup(() => stream.close());
      const { writable } = await withTimeout(stream.opened, 5_000, 'opened');
      const ws = await serverWs;
      await flood(ws, COUNT);
      const serverSawClose = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      if (how === 'close()') stream.close({ closeCode: 4000, reason: 'done' });
      else await writable.abort(new WebSocketError('stop', { closeCode: 4001 }));
      expect(await withTimeout(serverSawClose, 5_000, 'server close')).toBe(how === 'close()' ? 4000 : 4001);
      expect(await withTimeout(stream.closed, 5_000, 'closed')).toEqual({
        closeCode: how === 'close()' ? 4000 : 4001,
        reason: how === 'close()' ? 'done' : '',
      });
    });
  }
});
