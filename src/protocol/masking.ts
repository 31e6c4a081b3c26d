import { randomFillSync } from 'node:crypto';

/**
 * XORs `data` in place with a 4-byte mask (RFC 6455 5.3). Works a 32-bit word at a time where the
 * buffer's alignment allows, which is most of the cost for large frames.
 */
export function applyMask(data: Uint8Array, mask: Uint8Array): void {
  const length = data.length;
  let i = 0;
  // Byte loop until the view is 4-byte aligned in its ArrayBuffer.
  while (i < length && (data.byteOffset + i) % 4 !== 0) {
    data[i] = data[i]! ^ mask[i & 3]!;
    i++;
  }
  const words = (length - i) >>> 2;
  if (words > 0) {
    // The mask rotated so that word k of the aligned region lines up with mask byte (i & 3).
    const rotated = new Uint8Array(4);
    for (let k = 0; k < 4; k++) rotated[k] = mask[(i + k) & 3]!;
    const mask32 = new Uint32Array(rotated.buffer)[0]!;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] = view[w]! ^ mask32;
    i += words * 4;
  }
  for (; i < length; i++) data[i] = data[i]! ^ mask[i & 3]!;
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
