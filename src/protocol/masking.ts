import { randomFillSync } from 'node:crypto';
import { endianness } from 'node:os';

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * XORs `data[start, end)` in place with the 4-byte key at `key[keyOffset]` (RFC 6455 5.3), byte k of
 * the range with key byte k % 4. Works a 32-bit word at a time where the buffer's alignment allows,
 * which is most of the cost for large frames; no allocation for short ranges, the common case.
 */
export function maskRange(data: Uint8Array, start: number, end: number, key: Uint8Array, keyOffset: number): void {
  const m0 = key[keyOffset]!;
  const m1 = key[keyOffset + 1]!;
  const m2 = key[keyOffset + 2]!;
  const m3 = key[keyOffset + 3]!;
  let i = start;
  if (end - start >= 32) {
    // Byte loop until the position is 4-byte aligned in the ArrayBuffer, then words.
    while (((data.byteOffset + i) & 3) !== 0) {
      const r = (i - start) & 3;
      data[i] = data[i]! ^ (r === 0 ? m0 : r === 1 ? m1 : r === 2 ? m2 : m3);
      i++;
    }
    const words = (end - i) >>> 2;
    // Key bytes in the order they meet the aligned words.
    const r = (i - start) & 3;
    const k = [m0, m1, m2, m3];
    const b0 = k[r]!;
    const b1 = k[(r + 1) & 3]!;
    const b2 = k[(r + 2) & 3]!;
    const b3 = k[(r + 3) & 3]!;
    const mask32 = LITTLE_ENDIAN
      ? (b0 | (b1 << 8) | (b2 << 16) | (b3 << 24))
      : ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3);
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] = view[w]! ^ mask32;
    i += words * 4;
  }
  for (; i < end; i++) {
    const r = (i - start) & 3;
    data[i] = data[i]! ^ (r === 0 ? m0 : r === 1 ? m1 : r === 2 ? m2 : m3);
  }
}

/**
 * Masks must be unpredictable to the peer's network (RFC 6455 10.3), so they come from the CSPRNG;
 * drawing them from a pool refilled 8 KiB at a time keeps that cheap per frame.
 */
const POOL_SIZE = 8192;
const pool = Buffer.allocUnsafeSlow(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** Writes a fresh random 4-byte mask into `target` at `offset`. */
export function writeRandomMask(target: Uint8Array, offset: number): void {
  if (poolOffset === POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  target[offset] = pool[poolOffset]!;
  target[offset + 1] = pool[poolOffset + 1]!;
  target[offset + 2] = pool[poolOffset + 2]!;
  target[offset + 3] = pool[poolOffset + 3]!;
  poolOffset += 4;
}
