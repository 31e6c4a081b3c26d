import { finished, type Writable } from 'node:stream';

/** Bytes a {@link toWritableStream} queue holds before `pipeTo` stops reading: 64 KiB. */
export const DEFAULT_WRITABLE_HIGH_WATER_MARK = 64 * 1024;

/** What {@link toWritableStream} writes: text (UTF-8 by default in a Node stream) or bytes. */
export type ByteChunk = string | ArrayBuffer | ArrayBufferView;

export interface ToWritableStreamOptions {
  /**
   * How many bytes the WritableStream's queue holds before it reports backpressure (`pipeTo`
   * stops reading, `writer.ready` waits). A string counts its UTF-8 byte length, a buffer or view
   * its `byteLength`. Default {@link DEFAULT_WRITABLE_HIGH_WATER_MARK} (64 KiB).
   */
  highWaterMark?: number;
  /**
   * Whether closing the WritableStream ends the Node stream (`writable.end()`), and aborting it
   * destroys the Node stream. Default `true`, except for `process.stdout` and `process.stderr`,
   * which stay open as `Readable#pipe()` leaves them: closing then waits until every chunk was
   * written.
   */
  end?: boolean;
}

/**
 * Turns a Node `Writable` (a file, `process.stdout`, a socket...) into a WHATWG `WritableStream`
 * whose queue is counted in bytes, so that `readable.pipeTo(toWritableStream(file))` holds at most
 * `highWaterMark` bytes in the queue plus what the Node stream buffers itself (its own
 * `writableHighWaterMark`, plus the one chunk that crossed it), whatever the Node version.
 *
 * `Writable.toWeb()` is not that on Node 20: its queue counts chunks up to the Node stream's
 * high-water mark (16384 for a file), so a slow file lets `pipeTo` pull 16384 messages into memory.
 *
 * Each write goes to `writable.write()`; when that returns `false` the next write waits for
 * `'drain'`. An error or premature close of the Node stream errors the WritableStream (the pending
 * and later writes reject with it). Chunks are handed over without a copy: do not change a buffer
 * after writing it.
 */
export function toWritableStream(writable: Writable, options: ToWritableStreamOptions = {}): WritableStream<ByteChunk> {
  if (!isNodeWritable(writable)) throw new TypeError('toWritableStream() needs a Node.js Writable stream');
  const highWaterMark = options.highWaterMark ?? DEFAULT_WRITABLE_HIGH_WATER_MARK;
  if (typeof highWaterMark !== 'number' || !(highWaterMark >= 0)) {
    throw new RangeError(`highWaterMark must be a non-negative number; got ${String(highWaterMark)}`);
  }
  const endWhenClosed = options.end ?? (writable !== process.stdout && writable !== process.stderr);

  let controller!: WritableStreamDefaultController;
  /** Set once the Node stream errored, closed early, or ended without us. */
  let failure: Error | undefined;
  /** Set once we ended the Node stream ourselves and it finished. */
  let ended = false;
  /** The one thing the sink waits for at a time: 'drain' during a write, the end during close. */
  let waiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Writes handed to the Node stream whose callback has not run yet (for close without end). */
  let unwritten = 0;

  const wait = (): Promise<void> => new Promise((resolve, reject) => (waiter = { resolve, reject }));
  const wake = (): void => {
    const current = waiter;
    waiter = undefined;
    current?.resolve();
  };
  const onWritten = (): void => {
    unwritten--;
    if (unwritten === 0 && !endWhenClosed) wake();
  };
  const stopListening = finished(writable, { readable: false }, (error) => {
    stopListening();
    writable.off('drain', wake);
    if (!error && ended) return wake();
    failure = error ?? new Error('The Node.js stream ended before the WritableStream was closed');
    controller.error(failure);
    const current = waiter;
    waiter = undefined;
    current?.reject(failure);
  });
  writable.on('drain', wake);

  return new WritableStream<ByteChunk>(
    {
      start(c) {
        controller = c;
      },
      write(chunk) {
        if (failure) throw failure;
        unwritten++;
        if (writable.write(toNodeChunk(chunk), onWritten)) return;
        return wait();
      },
      close() {
        if (failure) throw failure;
        if (!endWhenClosed) {
          const done = unwritten === 0 ? Promise.resolve() : wait();
          return done.then(() => {
            stopListening();
            writable.off('drain', wake);
          });
        }
        ended = true;
        const done = wait();
        writable.end();
        return done;
      },
      abort(reason) {
        if (!endWhenClosed) {
          stopListening();
          writable.off('drain', wake);
          return;
        }
        writable.destroy(reason instanceof Error ? reason : undefined);
      },
    },
    { highWaterMark, size: byteLength },
  );
}

function byteLength(chunk: ByteChunk): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, 'utf8');
  if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) return chunk.byteLength;
  throw new TypeError('toWritableStream() writes strings, ArrayBuffers and ArrayBuffer views only');
}

function toNodeChunk(chunk: ByteChunk): string | Uint8Array {
  if (typeof chunk === 'string' || chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function isNodeWritable(value: unknown): value is Writable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Writable).write === 'function' &&
    typeof (value as Writable).end === 'function' &&
    typeof (value as Writable).on === 'function'
  );
}
