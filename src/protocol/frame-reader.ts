import { ByteQueue } from './byte-queue.js';
import { applyMask } from './masking.js';
import { isControlOpcode, isKnownOpcode, Opcode } from './opcodes.js';
import { ProtocolError } from './protocol-error.js';

/** One frame, its payload unmasked. */
export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  /** True when `payload` is a fresh buffer of its exact length, false when it views a socket chunk. */
  owned: boolean;
  /** RSV1: with permessage-deflate, the first frame of a compressed message (RFC 7692 6). */
  rsv1: boolean;
}

export interface FrameReaderOptions {
  /** Server role: frames from the client must be masked. Client role: they must not be. */
  expectMasked: boolean;
  /** Largest payload a data message may reach; larger fails with 1009. */
  maxPayload: number;
  /** permessage-deflate was agreed: RSV1 may mark the first frame of a data message. */
  allowRsv1: boolean;
}

/**
 * What the message in progress already holds, passed into every next() so that the size limit
 * applies across fragments as soon as a header is read (the frame parser asks nobody).
 */
export interface MessageSoFar {
  /** Bytes of the fragmented data message assembled so far (0 between messages). */
  assembledBytes: number;
  /** That message is compressed: its wire size gets deflate's slack. */
  assembledCompressed: boolean;
}

/** Between messages: nothing assembled. */
export const NO_MESSAGE: MessageSoFar = { assembledBytes: 0, assembledCompressed: false };

/**
 * Deflate can expand incompressible data (stored blocks: 5 bytes per 64 KiB, plus a final block),
 * so a compressed message may exceed maxPayload on the wire by this much and still inflate to at
 * most maxPayload; the inflated size is checked separately while inflating.
 */
export function compressedSlack(maxPayload: number): number {
  return Math.ceil(maxPayload / 16384) + 1024;
}

interface Header {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payloadLength: number;
  mask: Uint8Array | null;
}

/**
 * A payload received straight into its own buffer may be at most this large: reading it that way
 * allocates the whole buffer as soon as the header is in, so a header alone must not cost more.
 * Larger payloads are gathered from the received chunks once they are complete.
 */
export const DIRECT_PAYLOAD_MAX = 16 * 1024 * 1024;

/** A frame whose payload is being received into the buffer that becomes the message's own. */
interface DirectPayload {
  header: Header;
  payload: Buffer;
  filled: number;
}

/**
 * Cuts the received byte stream into frames (RFC 6455 5.2), checking every header rule as soon as
 * the header is complete, before any payload is buffered. No I/O, no timers: bytes in, frames out.
 */
export class FrameReader {
  private queue = new ByteQueue();
  private header: Header | null = null;
  private direct: DirectPayload | null = null;

  constructor(private readonly options: FrameReaderOptions) {}

  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /** Forgets every byte received and not returned yet (nothing more will be parsed). */
  clear(): void {
    this.queue = new ByteQueue();
    this.header = null;
    this.direct = null;
  }

  /** Bytes received and not yet returned as frames (the property tests check none are left). */
  get bufferedBytes(): number {
    return this.queue.length + (this.direct?.filled ?? 0);
  }

  /**
   * Where the next socket read may land: the unfilled rest of the current frame's payload. Offered
   * for an unfragmented, uncompressed data frame whose header is in, once nothing else is buffered
   * and at least `minBytes` are still to come; from then on that frame's bytes (from reads and
   * from push()) fill the buffer that becomes the message's own, so nothing is gathered at the
   * end. Null otherwise: the caller reads into a chunk of its own and push()es it.
   */
  payloadTarget(minBytes: number): Uint8Array | null {
    let direct = this.direct;
    if (direct === null) {
      const header = this.header;
      if (header === null || !header.fin || header.rsv1) return null;
      if (header.opcode !== Opcode.Text && header.opcode !== Opcode.Binary) return null;
      if (header.payloadLength > DIRECT_PAYLOAD_MAX) return null;
      const buffered = this.queue.length;
      if (header.payloadLength - buffered < minBytes) return null;
      const payload = Buffer.allocUnsafeSlow(header.payloadLength);
      this.queue.moveInto(payload, 0, buffered);
      direct = this.direct = { header, payload, filled: buffered };
      this.header = null;
    }
    if (this.queue.length > 0 || direct.payload.length - direct.filled < minBytes) return null;
    return direct.payload.subarray(direct.filled);
  }

  /** `n` bytes were read into the buffer that payloadTarget() returned. */
  payloadReceived(target: Uint8Array, n: number): void {
    const direct = this.direct;
    if (direct === null || target.buffer !== direct.payload.buffer) {
      throw new Error('FrameReader.payloadReceived without a matching payloadTarget');
    }
    direct.filled += n;
  }

  /**
   * The next complete frame, or null until more bytes arrive. Throws ProtocolError on a violation;
   * `soFar` is what the data message in progress holds, for the size limit.
   */
  next(soFar: MessageSoFar = NO_MESSAGE): Frame | null {
    if (this.direct !== null) return this.nextDirect();
    const header = this.header ?? this.readHeader(soFar);
    if (header === null) return null;
    this.header = header;
    if (this.queue.length < header.payloadLength) return null;
    this.header = null;
    const { bytes, owned } = this.queue.take(header.payloadLength);
    if (header.mask !== null) applyMask(bytes, header.mask);
    return { fin: header.fin, opcode: header.opcode, payload: bytes, owned, rsv1: header.rsv1 };
  }

  private nextDirect(): Frame | null {
    const direct = this.direct!;
    const count = Math.min(this.queue.length, direct.payload.length - direct.filled);
    if (count > 0) {
      this.queue.moveInto(direct.payload, direct.filled, count);
      direct.filled += count;
    }
    if (direct.filled < direct.payload.length) return null;
    this.direct = null;
    const { header, payload } = direct;
    if (header.mask !== null) applyMask(payload, header.mask);
    return { fin: true, opcode: header.opcode, payload, owned: true, rsv1: false };
  }

  private readHeader(soFar: MessageSoFar): Header | null {
    const queue = this.queue;
    if (queue.length < 2) return null;
    const b0 = queue.byteAt(0);
    const b1 = queue.byteAt(1);
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const shortLength = b1 & 0x7f;

    const rsv1 = (b0 & 0x40) !== 0;
    if ((b0 & 0x30) !== 0 || (rsv1 && !this.options.allowRsv1)) {
      throw new ProtocolError('ERR_WS_RESERVED_BITS', 'Reserved bits set without a negotiated extension');
    }
    if (!isKnownOpcode(opcode)) {
      throw new ProtocolError('ERR_WS_UNKNOWN_OPCODE', `Unknown opcode 0x${opcode.toString(16)}`);
    }
    // RFC 7692 6: RSV1 marks a whole message as compressed, so only its first frame carries it;
    // control frames are never compressed.
    if (rsv1 && isControlOpcode(opcode)) {
      throw new ProtocolError('ERR_WS_RSV1_ON_CONTROL_FRAME', 'RSV1 set on a control frame');
    }
    if (rsv1 && opcode === 0) {
      throw new ProtocolError('ERR_WS_RSV1_ON_CONTINUATION', 'RSV1 set on a continuation frame');
    }
    if (isControlOpcode(opcode)) {
      if (!fin) throw new ProtocolError('ERR_WS_FRAGMENTED_CONTROL_FRAME', 'Fragmented control frame');
      if (shortLength > 125) {
        throw new ProtocolError('ERR_WS_CONTROL_FRAME_TOO_LONG', 'Control frame payload longer than 125 bytes');
      }
    }
    if (masked !== this.options.expectMasked) {
      throw new ProtocolError(
        'ERR_WS_WRONG_MASKING',
        masked ? 'Masked frame from the server' : 'Unmasked frame from the client',
      );
    }

    const extraLength = shortLength === 126 ? 2 : shortLength === 127 ? 8 : 0;
    const headerLength = 2 + extraLength + (masked ? 4 : 0);
    if (queue.length < headerLength) return null;

    let payloadLength = shortLength;
    if (extraLength === 2) {
      payloadLength = (queue.byteAt(2) << 8) | queue.byteAt(3);
    } else if (extraLength === 8) {
      const high = (queue.byteAt(2) * 2 ** 24) + (queue.byteAt(3) << 16) + (queue.byteAt(4) << 8) + queue.byteAt(5);
      if (high >= 2 ** 31) {
        throw new ProtocolError('ERR_WS_INVALID_LENGTH', 'Payload length with the most significant bit set');
      }
      const low = (queue.byteAt(6) * 2 ** 24) + (queue.byteAt(7) << 16) + (queue.byteAt(8) << 8) + queue.byteAt(9);
      // Beyond 2^53 the number is inexact, but any such length is far above every limit anyway.
      payloadLength = high * 2 ** 32 + low;
    }

    if (!isControlOpcode(opcode)) {
      const total = soFar.assembledBytes + payloadLength;
      const compressed = rsv1 || (opcode === 0 && soFar.assembledCompressed);
      const limit = this.options.maxPayload + (compressed ? compressedSlack(this.options.maxPayload) : 0);
      if (total > limit) {
        throw new ProtocolError(
          'ERR_WS_MESSAGE_TOO_BIG',
          `Message larger than the ${this.options.maxPayload}-byte limit (maxPayload)`,
        );
      }
    }

    let mask: Uint8Array | null = null;
    if (masked) {
      mask = new Uint8Array(4);
      for (let k = 0; k < 4; k++) mask[k] = queue.byteAt(2 + extraLength + k);
    }
    queue.skip(headerLength);
    return { fin, rsv1, opcode, payloadLength, mask };
  }
}
