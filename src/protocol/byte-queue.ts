/**
 * The bytes received from the socket and not parsed yet, kept as the original chunks so that a
 * frame lying inside one chunk is read where it lies, without a copy. Small chunks that arrive while
 * bytes are already waiting are copied into a shared slab. Memory: see
 * docs/memory.md#small-reads-gathered-in-a-slab.
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

  /**
   * The chunk the read position is in, or undefined when the queue is empty. Its bytes from
   * `headOffset` on are the next ones: the frame reader reads a frame that lies inside one chunk
   * straight from it, with no copy and no view object per frame.
   */
  headChunk(): Buffer | undefined {
    return this.chunks[this.head];
  }

  /** Read offset into headChunk(). */
  get headOffset(): number {
    return this.offset;
  }

  /** Copies the next `n` bytes (n <= length) into `target` without removing them. */
  peekInto(target: Uint8Array, n: number): void {
    let offset = this.offset;
    let copied = 0;
    for (let k = this.head; copied < n; k++) {
      const chunk = this.chunks[k]!;
      const count = Math.min(chunk.length - offset, n - copied);
      target.set(chunk.subarray(offset, offset + count), copied);
      copied += count;
      offset = 0;
    }
  }

  /**
   * Lets go of `chunk`, the last one pushed, so that its memory can take the next socket read: its
   * bytes still waiting, if any, are copied out first. Returns false, holding on to it, when more
   * than `maxCopy` of its bytes wait (a reader that paused): the next read then needs a new chunk.
   */
  release(chunk: Buffer, maxCopy: number): boolean {
    if (this.length === 0) return true;
    const index = this.chunks.length - 1;
    const last = this.chunks[index]!;
    if (last.buffer !== chunk.buffer) return true; // copied into the slab when it was pushed
    const from = index === this.head ? this.offset : 0;
    const waiting = last.length - from;
    if (waiting > maxCopy) return false;
    const copy = Buffer.allocUnsafe(waiting);
    last.copy(copy, 0, from);
    this.chunks[index] = copy;
    if (index === this.head) this.offset = 0;
    return true;
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
      // Empty: start over, and let go of the slab (docs/memory.md#small-reads-gathered-in-a-slab).
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
