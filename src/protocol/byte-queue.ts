/**
 * The bytes received from the socket and not parsed yet, kept as the original chunks so that a
 * payload lying inside one chunk is handed on as a view, without a copy.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Read offset into chunks[0]. */
  private offset = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The byte at `index` from the read position; the caller checks `length` first. */
  byteAt(index: number): number {
    let i = index + this.offset;
    const first = this.chunks[0];
    if (first !== undefined && i < first.length) return first[i]!;
    for (const chunk of this.chunks) {
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
    const first = this.chunks[0];
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
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length - this.offset, n);
      target.set(chunk.subarray(this.offset, this.offset + count), offset);
      offset += count;
      n -= count;
      this.advance(count);
    }
  }

  skip(n: number): void {
    while (n > 0) {
      const count = Math.min(this.chunks[0]!.length - this.offset, n);
      this.advance(count);
      n -= count;
    }
  }

  private advance(n: number): void {
    this.offset += n;
    this.length -= n;
    if (this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
