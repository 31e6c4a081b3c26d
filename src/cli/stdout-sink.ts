import type { Writable } from 'node:stream';

/**
 * Stand-in until the package exports `toWritableStream`: a WritableStream over a Node Writable
 * whose queue counts bytes (64 KiB) and whose writes wait for 'drain'. `Writable.toWeb()` counts
 * chunks on Node 20 (up to 16384 of them), which would let a slow stdout pull the feed into memory.
 */
export function toWritableStream(writable: Writable): WritableStream<string | Uint8Array> {
  let unwritten = 0;
  let waiter: (() => void) | undefined;
  const wake = (): void => {
    const resolve = waiter;
    waiter = undefined;
    resolve?.();
  };
  const onWritten = (): void => {
    if (--unwritten === 0) wake();
  };
  writable.on('drain', wake);
  return new WritableStream<string | Uint8Array>({
    write(chunk) {
      unwritten++;
      if (writable.write(chunk, onWritten)) return undefined;
      return new Promise<void>((resolve) => (waiter = resolve));
    },
    close() {
      if (unwritten === 0) return undefined;
      return new Promise<void>((resolve) => (waiter = resolve));
    },
  }, { highWaterMark: 64 * 1024, size: (chunk) => (typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength) });
}
