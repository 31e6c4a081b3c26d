// toWritableStream(): a Node Writable behind a WritableStream whose queue counts bytes, so that
// pipeTo into a slow file holds the queue size in memory on every Node version (Writable.toWeb on
// Node 20 counts chunks up to 16384 of them). Run on Node 20 by `npm test` and on Node 24 by CI's
// second `npm test`.
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_WRITABLE_HIGH_WATER_MARK, serve, toWritableStream, type WebSocketStreamServer } from '../src/index.js';
import { delay, rejectionOf, settledWithin, waitFor } from './helpers/timing.js';

const KiB = 1024;
const MESSAGE = 64 * KiB;

/** A Node Writable that takes `msPerWrite` per chunk (a slow disk), counting what it wrote. */
function slowSink(msPerWrite: number, options: { highWaterMark?: number } = {}): Writable & { chunks: number; bytes: number } {
  const sink = new Writable({
    highWaterMark: options.highWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      setTimeout(() => {
        sink.chunks++;
        sink.bytes += chunk.length;
        callback();
      }, msPerWrite);
    },
  }) as Writable & { chunks: number; bytes: number };
  sink.chunks = 0;
  sink.bytes = 0;
  return sink;
}

/** A source of `limit` 64 KiB chunks that counts how many pipeTo pulled. */
function countingSource(limit: number): { readable: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const readable = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(MESSAGE));
      if (pulled === limit) controller.close();
    },
  });
  return { readable, pulled: () => pulled };
}

/**
 * Pipes 64 KiB chunks (at most 2000: 125 MiB) into `destination` for `ms`, then reports the
 * chunks pulled from the source and written by the sink.
 */
async function pipeFor(ms: number, destination: WritableStream<Uint8Array>, sink: Writable & { chunks: number }) {
  const { readable, pulled } = countingSource(2_000);
  const abort = new AbortController();
  const piping = readable.pipeTo(destination, { signal: abort.signal }).catch(() => {});
  await delay(ms);
  const result = { pulled: pulled(), written: sink.chunks };
  abort.abort();
  // Node 20's Writable.toWeb() can leave pipeTo pending after the abort: do not wait forever.
  await settledWithin(piping, 2_000);
  sink.destroy();
  return result;
}

/**
 * What may be held at once with 64 KiB chunks: the WritableStream's 64 KiB queue (one chunk), the
 * chunk the Node stream is writing (its 16 KiB mark is below one chunk), the source's own one-chunk
 * queue and the one pipeTo has in hand. A margin of two more for the timer racing the count.
 */
const HELD_CHUNKS = 6;

describe('toWritableStream: memory stays at the queue size', () => {
  it('pipeTo into a slow sink pulls only what the queues hold (10 ms per 64 KiB write)', async () => {
    const sink = slowSink(10);
    const { pulled, written } = await pipeFor(1_500, toWritableStream(sink), sink);
    expect(written).toBeGreaterThan(5);
    expect(pulled - written).toBeLessThanOrEqual(HELD_CHUNKS);
  });

  it('holds the chosen highWaterMark in bytes: 1 MiB is 16 chunks of 64 KiB', async () => {
    const sink = slowSink(10);
    const { pulled, written } = await pipeFor(1_500, toWritableStream(sink, { highWaterMark: 1024 * KiB }), sink);
    expect(written).toBeGreaterThan(5);
    expect(pulled - written).toBeGreaterThanOrEqual(16);
    expect(pulled - written).toBeLessThanOrEqual(16 + HELD_CHUNKS);
  });

  // The measurement can fail: Node 20's Writable.toWeb() lets the same pipe pull thousands.
  it.runIf(process.versions.node.startsWith('20.'))('control: Writable.toWeb() on Node 20 pulls far more', async () => {
    const sink = slowSink(10);
    const { pulled, written } = await pipeFor(500, Writable.toWeb(sink) as WritableStream<Uint8Array>, sink);
    expect(pulled - written).toBeGreaterThan(1_000);
  });
});

describe('toWritableStream over a real socket', () => {
  let server: WebSocketStreamServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('a WebSocketStream piped into a slow sink reads only what the sink takes', async () => {
    let sent = 0;
    server = await serve({ host: '127.0.0.1' }, async (wss) => {
      const { writable } = await wss.opened;
      const writer = writable.getWriter();
      try {
        for (let i = 0; i < 100_000; i++) {
          await writer.ready;
          await writer.write(new Uint8Array(MESSAGE));
          sent++;
        }
      } catch {
        // The client went away.
      }
    });
    const { WebSocketStream } = await import('../src/index.js');
    const wss = new WebSocketStream(server.url);
    const { readable } = await wss.opened;
    let read = 0;
    const counter = new TransformStream<Uint8Array, Uint8Array>(
      {
        transform(chunk, controller) {
          read++;
          controller.enqueue(chunk);
        },
      },
      { highWaterMark: 1 }, // pipeTo waits for writer.ready, which a queue of 0 never gives
      { highWaterMark: 0 },
    );
    const sink = slowSink(10);
    const abort = new AbortController();
    const piping = readable
      .pipeThrough(counter)
      .pipeTo(toWritableStream(sink), { signal: abort.signal })
      .catch(() => {});
    await delay(1_500);
    const held = read - sink.chunks;
    abort.abort();
    await piping;
    wss.close();
    expect(sink.chunks).toBeGreaterThan(5);
    expect(held).toBeLessThanOrEqual(HELD_CHUNKS);
    // The sender was stalled by TCP: it got rid of far fewer than a free-running loopback would.
    expect(sent).toBeLessThan(sink.chunks + 1_000);
  });
});

describe('toWritableStream: what it writes and how it ends', () => {
  it('writes strings as UTF-8, buffers and views as their bytes, in order, then ends the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wss-to-writable-'));
    try {
      const path = join(dir, 'out.bin');
      const writer = toWritableStream(createWriteStream(path)).getWriter();
      await writer.write('h\u00e9');
      await writer.write(new Uint8Array([1, 2]));
      await writer.write(new Uint16Array([0x0403]).buffer);
      await writer.write(new DataView(new Uint8Array([9, 5, 6, 9]).buffer, 1, 2));
      await writer.close();
      expect([...(await readFile(path))]).toEqual([0x68, 0xc3, 0xa9, 1, 2, 3, 4, 5, 6]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts a string by its UTF-8 byte length and a buffer by its byteLength', async () => {
    const stuck = new Writable({ highWaterMark: 0, write() {} });
    const writer = toWritableStream(stuck, { highWaterMark: 100 }).getWriter();
    void writer.write('h\u00e9llo'); // 6 bytes, in flight until 'drain'
    void writer.write(new Uint8Array(10));
    expect(writer.desiredSize).toBe(100 - 6 - 10);
    expect(DEFAULT_WRITABLE_HIGH_WATER_MARK).toBe(64 * KiB);
    expect(toWritableStream(stuck).getWriter().desiredSize).toBe(64 * KiB);
  });

  it('waits for drain: a write that fills the Node stream resolves only when it drained', async () => {
    let release: (() => void) | undefined;
    const gated = new Writable({
      highWaterMark: 4,
      write(_chunk, _encoding, callback) {
        release = callback;
      },
    });
    const writer = toWritableStream(gated).getWriter();
    const first = writer.write(new Uint8Array(8));
    let settled = false;
    void first.then(() => (settled = true));
    await delay(50);
    expect(settled).toBe(false);
    release!();
    await first;
  });

  it('an error of the Node stream rejects the pending write, later writes and closed with it', async () => {
    const failing = new Writable({
      highWaterMark: 0,
      write(_chunk, _encoding, callback) {
        setTimeout(() => callback(new Error('disk full')), 10);
      },
    });
    const writer = toWritableStream(failing).getWriter();
    const error = await rejectionOf(writer.write(new Uint8Array(1)));
    expect((error as Error).message).toBe('disk full');
    expect(await rejectionOf(writer.write(new Uint8Array(1)))).toBe(error);
    expect(await rejectionOf(writer.closed)).toBe(error);
  });

  it('a Node stream destroyed under it errors the WritableStream (premature close)', async () => {
    const sink = slowSink(1_000, { highWaterMark: 0 });
    const writer = toWritableStream(sink).getWriter();
    const pending = writer.write(new Uint8Array(1));
    sink.destroy();
    expect(((await rejectionOf(pending)) as NodeJS.ErrnoException).code).toBe('ERR_STREAM_PREMATURE_CLOSE');
  });

  it('a Node stream ended by someone else errors the WritableStream', async () => {
    const sink = slowSink(0);
    const writer = toWritableStream(sink).getWriter();
    sink.end();
    expect(((await rejectionOf(writer.closed)) as Error).message).toMatch(/ended before/);
  });

  it('abort(reason) destroys the Node stream with that reason', async () => {
    const sink = slowSink(0);
    const errors: unknown[] = [];
    sink.on('error', (error) => errors.push(error));
    const reason = new Error('stop');
    await toWritableStream(sink).abort(reason);
    await waitFor(() => sink.destroyed, 2_000, 'the Node stream destroyed');
    expect(sink.destroyed).toBe(true);
    await delay(10);
    expect(errors).toEqual([reason]);
  });

  it('end: false leaves the Node stream open; close() waits until every chunk was written', async () => {
    const sink = slowSink(20);
    const writer = toWritableStream(sink, { end: false }).getWriter();
    for (let i = 0; i < 3; i++) void writer.write(new Uint8Array(4));
    await writer.close();
    expect(sink.chunks).toBe(3);
    expect(sink.writableEnded).toBe(false);
    sink.end();
    await once(sink, 'finish');
  });

  it('process.stdout is not ended by close() (as Readable#pipe leaves it open)', async () => {
    const writer = toWritableStream(process.stdout).getWriter();
    await writer.write('');
    await writer.close();
    expect(process.stdout.writableEnded).toBe(false);
  });

  it('rejects what is not a Writable, a bad highWaterMark and a chunk that is not bytes', async () => {
    expect(() => toWritableStream(undefined as unknown as Writable)).toThrow(TypeError);
    expect(() => toWritableStream({} as Writable)).toThrow(TypeError);
    expect(() => toWritableStream(slowSink(0), { highWaterMark: -1 })).toThrow(RangeError);
    expect(() => toWritableStream(slowSink(0), { highWaterMark: Number.NaN })).toThrow(RangeError);
    const writer = toWritableStream(slowSink(0)).getWriter();
    expect(await rejectionOf(writer.write({} as unknown as Uint8Array))).toBeInstanceOf(TypeError);
  });
});
