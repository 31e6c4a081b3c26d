// The reader without sockets: bytes in, events out, and what it holds while a message is in
// progress. A peer controls how its bytes are cut into socket reads and frames; neither may change
// what we hold by more than a small constant beyond the bytes themselves.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MessageReader } from '../../src/protocol/message-reader.js';
import { MiB, retainedBytes } from '../helpers/memory.js';
import { frame } from '../helpers/raw-server.js';

const MASK = Buffer.from([1, 2, 3, 4]);

/** A socket read of one byte: Node gives each read a buffer of its own. */
function oneByteRead(byte: number): Buffer {
  const chunk = Buffer.allocUnsafeSlow(1);
  chunk[0] = byte;
  return chunk;
}

describe('MessageReader bounds', () => {
  it('a 256 KiB frame dribbled in one-byte reads holds about its size, then decodes', () => {
    const reader = new MessageReader({ expectMasked: true, maxPayload: MiB });
    const payload = randomBytes(256 * 1024);
    const bytes = frame(0x2, payload, { mask: MASK });
    const baseline = retainedBytes();
    for (let i = 0; i < bytes.length - 1; i++) {
      reader.push(oneByteRead(bytes[i]!));
      if (reader.next() !== null) throw new Error(`an event before the frame was complete (byte ${i})`);
    }
    const growth = retainedBytes() - baseline;
    reader.push(oneByteRead(bytes[bytes.length - 1]!));
    const event = reader.next();
    expect(event?.type).toBe('binary');
    expect(Buffer.from((event as { data: Uint8Array }).data).equals(payload)).toBe(true);
    // Before: one Buffer object per read, ~30 MiB for these 262,000 reads.
    expect(growth).toBeLessThan(2 * MiB);
  });

  it('a message in 100,000 one-byte fragments, each fragment in its own read, holds about its size', () => {
    const reader = new MessageReader({ expectMasked: true, maxPayload: MiB });
    const count = 100_000;
    const baseline = retainedBytes();
    reader.push(frame(0x2, Buffer.from([0]), { fin: false, mask: MASK }));
    for (let i = 1; i < count; i++) {
      reader.push(frame(0x0, Buffer.from([i & 0xff]), { fin: false, mask: MASK }));
      if (reader.next() !== null) throw new Error(`an event before the last fragment (fragment ${i})`);
    }
    const growth = retainedBytes() - baseline;
    reader.push(frame(0x0, Buffer.alloc(0), { mask: MASK }));
    const event = reader.next() as { type: string; data: Uint8Array };
    expect(event.type).toBe('binary');
    expect(event.data.length).toBe(count);
    expect(event.data[count - 1]).toBe((count - 1) & 0xff);
    expect(event.data.buffer.byteLength).toBe(count); // the message owns an exact ArrayBuffer
    expect(growth).toBeLessThan(2 * MiB);
  });
});
