/**
 * Gathers the payload of a fragmented message into one buffer that grows (doubling, so linear CPU)
 * as fragments arrive, never beyond `limit`, the largest total the frame reader lets through.
 * Memory: see docs/memory.md#one-growing-buffer-per-fragmented-message.
 */
export class MessageAssembler {
  private buffer: Buffer = EMPTY;
  /** Bytes gathered so far. */
  length = 0;

  /**
   * Adds one fragment's payload. `owned`: the payload is a fresh buffer nobody else holds, so the
   * first fragment may become the message's buffer without a copy. `limit` is the most the message
   * may reach (the caller checked that `length + payload.length` does not exceed it).
   */
  append(payload: Buffer, owned: boolean, limit: number): void {
    const needed = this.length + payload.length;
    if (this.length === 0 && owned) {
      this.buffer = payload;
      this.length = needed;
      return;
    }
    if (needed > this.buffer.length) {
      const grown = Math.min(limit, Math.max(needed, this.buffer.length * 2, MIN_CAPACITY));
      const next = Buffer.allocUnsafeSlow(Math.max(grown, needed));
      this.buffer.copy(next, 0, 0, this.length);
      this.buffer = next;
    }
    payload.copy(this.buffer, this.length);
    this.length = needed;
  }

  /**
   * Removes the message gathered so far. `owned`: the bytes are exactly a buffer of their own (its
   * ArrayBuffer holds nothing else); otherwise they view a larger buffer, and a binary message must
   * be copied out of it.
   */
  take(): { bytes: Buffer; owned: boolean } {
    const { buffer, length } = this;
    this.buffer = EMPTY;
    this.length = 0;
    const owned = length === buffer.length && buffer.byteOffset === 0 && buffer.buffer.byteLength === length;
    return { bytes: owned ? buffer : buffer.subarray(0, length), owned };
  }
}

/** The first buffer allocated for a message in pieces; small, since most fragmented messages are. */
const MIN_CAPACITY = 1024;
const EMPTY = Buffer.alloc(0);
