// Memory the process retains (live after a full GC), for tests that bound what a peer can make
// us hold. GC is forced through V8's flag, so the tests need no special node options.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** A full garbage collection. */
export const gc = runInNewContext('gc') as () => void;

/** Bytes live after a full GC: the JS heap plus ArrayBuffer backing stores (Buffers). */
export function retainedBytes(): number {
  gc();
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

export const MiB = 1024 * 1024;
