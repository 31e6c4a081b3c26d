/**
 * The bytes received from the socket and not parsed yet, kept as the original chunks so that a
 * payload lying inside one chunk is handed on as a view, without a copy.
 *
 * A peer that dribbles its bytes (one TCP segment per byte) would otherwise make us keep one
 * Buffer object per socket read, about a hundred times the byte it carries: small chunks that
 * arrive while bytes are already waiting are copied into a shared slab instead, so the queue holds
 * about its byte count in memory whatever the segmentation, and a bounded number of chunk objects.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Index of the first chunk still holding bytes (chunks before it are spent). */
  private head = 0;
  /** Read offset into chunks[head]. */
  private offset = 0;
  /** Where small chunks are gathered while the queue is not empty; the last chunk views its tail. */
  private slab: Buffer | null = null;
  /** Bytes of `slab` used; the last chunk ends there when it lives in the slab. */
  private slabUsed = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (chunk.length < SMALL_CHUNK && this.length > 0) {
      this.pushSmall(chunk);
    } else {
      this.chunks.push(chunk);
      this.slab = null;
    }
    this.length += chunk.length;
  }

  /** Copies a small chunk behind the bytes already waiting, into the slab. */
  private pushSmall(chunk: Buffer): void {
    let slab = this.slab;
    const last = this.chunks.length - 1;
    if (slab !== null && this.slabUsed + chunk.length <= slab.length) {
      // The last chunk views the slab up to slabUsed: extend that view over the new bytes.
      const tail = this.chunks[last]!;
      chunk.copy(slab, this.slabUsed);
      this.slabUsed += chunk.length;
      this.chunks[last] = slab.subarray(tail.byteOffset - slab.byteOffset, this.slabUsed);
      return;
    }
    slab = this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    chunk.copy(slab, 0);
    this.slabUsed = chunk.length;
    this.chunks.push(slab.subarray(0, chunk.length));
  }

  /** The byte at `index` from the read position; the caller checks `length` first. */
  byteAt(index: number): number {
    let i = index + this.offset;
    const chunks = this.chunks;
    for (let k = this.head; k < chunks.length; k++) {
      const chunk = chunks[k]!;
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    throw new RangeError('ByteQueue.byteAt past the end');
  }

  /**
   * Removes `n` bytes (n <= length). `owned` tells whether the result is a fresh buffer of exactly
   * n bytes (its ArrayBuffer holds nothing else) or a view into a received chunk.
   */
  take(n: number): { bytes: Buffer; owned: boolean } {
    const first = this.chunks[this.head];
    if (n === 0 || first === undefined) return { bytes: EMPTY, owned: false };
    const available = first.length - this.offset;
    if (n <= available) {
      const bytes = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return { bytes, owned: false };
    }
    // Spans several chunks: gather into one exact, unpooled buffer.
    const bytes = Buffer.allocUnsafeSlow(n);
    this.moveInto(bytes, 0, n);
    return { bytes, owned: true };
  }

  /** Removes `n` bytes (n <= length), copying them into `target` from `offset` on. */
  moveInto(target: Uint8Array, offset: number, n: number): void {
    while (n > 0) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(chunk.length - this.offset, n);
      target.set(chunk.subarray(this.offset, this.offset + count), offset);
      offset += count;
      n -= count;
      this.advance(count);
    }
  }

  skip(n: number): void {
    while (n > 0) {
      const count = Math.min(this.chunks[this.head]!.length - this.offset, n);
      this.advance(count);
      n -= count;
    }
  }

  private advance(n: number): void {
    this.offset += n;
    this.length -= n;
    if (this.offset < this.chunks[this.head]!.length) return;
    this.offset = 0;
    this.head++;
    if (this.head === this.chunks.length) {
      // Empty: start over, and let go of the slab (a view handed out may still hold it).
      this.chunks.length = 0;
      this.head = 0;
      this.slab = null;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.chunks.length) {
      // Spent chunks are dropped in bulk: shift() on a long array costs its length every time.
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

/** Chunks shorter than this are copied into the slab when they queue up behind waiting bytes. */
const SMALL_CHUNK = 1024;
const SLAB_BYTES = 16 * 1024;
const COMPACT_AFTER = 64;
const EMPTY = Buffer.alloc(0);
