import { ByteQueue } from './byte-queue.js';
import { maskRange } from './masking.js';
import { isControlOpcode, isKnownOpcode, Opcode } from './opcodes.js';
import { ProtocolError } from './protocol-error.js';

/**
 * One frame, its payload unmasked: the bytes `payload[start, end)`. A frame that arrived inside one
 * socket chunk is read where it lies (payload is that chunk), so a small message costs no copy and
 * no view object before it is decoded.
 */
export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  start: number;
  end: number;
  /**
   * True when `payload` is a fresh buffer holding exactly this frame's payload (start 0, end its
   * length, its ArrayBuffer holds nothing else); false when it is a received chunk.
   */
  owned: boolean;
  /** RSV1: with permessage-deflate, the first frame of a compressed message (RFC 7692 6). */
  rsv1: boolean;
}

/** A frame's payload as a Buffer of its own length (a view when the frame lies in a chunk). */
export function payloadOf(frame: Frame): Buffer {
  const { payload, start, end } = frame;
  return start === 0 && end === payload.length ? payload : payload.subarray(start, end);
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

/**
 * A payload received straight into its own buffer may be at most this large, so that a header
 * alone never allocates more. Memory: see docs/memory.md#reads-straight-into-the-messages-buffer.
 */
export const DIRECT_PAYLOAD_MAX = 16 * 1024 * 1024;

/** The longest header: 2 bytes, a 64-bit length, a 4-byte mask. */
const MAX_HEADER_BYTES = 14;

/** A frame whose payload is being received into the buffer that becomes the message's own. */
interface DirectPayload {
  opcode: number;
  masked: boolean;
  payload: Buffer;
  filled: number;
}

/**
 * Cuts the received byte stream into frames (RFC 6455 5.2), checking every header rule as soon as
 * the header is complete, before any payload is buffered. No I/O, no timers: bytes in, frames out.
 *
 * The header being read lives in fields of the reader, and every frame is returned in the same
 * Frame object, valid until the next call (made at the first frame: an idle connection holds none):
 * at small messages an object per frame is a measurable share of the cost.
 */
export class FrameReader {
  private queue = new ByteQueue();
  private direct: DirectPayload | null = null;
  /** A header was read and its payload is awaited; the fields below describe it. */
  private haveHeader = false;
  private fin = false;
  private rsv1 = false;
  private opcode = 0;
  private payloadLength = 0;
  private masked = false;
  /** The masking key of the current header (when masked), its 4 bytes in one number. */
  private maskKey = 0;
  private frame: Frame | null = null;

  constructor(private readonly options: FrameReaderOptions) {}

  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /**
   * Stops viewing `chunk` (the last one pushed) so that the caller may read into it again; false
   * when too many of its bytes are still unparsed to copy them (see ByteQueue.release).
   */
  release(chunk: Buffer): boolean {
    return this.queue.release(chunk, RELEASE_COPY_MAX);
  }

  /** Forgets every byte received and not returned yet (nothing more will be parsed). */
  clear(): void {
    this.queue = new ByteQueue();
    this.haveHeader = false;
    this.direct = null;
    this.frame = null;
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
      if (!this.haveHeader || !this.fin || this.rsv1) return null;
      if (this.opcode !== Opcode.Text && this.opcode !== Opcode.Binary) return null;
      const length = this.payloadLength;
      if (length > DIRECT_PAYLOAD_MAX) return null;
      const buffered = this.queue.length;
      if (length - buffered < minBytes) return null;
      const payload = Buffer.allocUnsafeSlow(length);
      this.queue.moveInto(payload, 0, buffered);
      direct = this.direct = { opcode: this.opcode, masked: this.masked, payload, filled: buffered };
      this.haveHeader = false;
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
   * `soFar` is what the data message in progress holds, for the size limit. The returned object is
   * reused: it is valid until the next call.
   */
  next(soFar: MessageSoFar = NO_MESSAGE): Frame | null {
    if (this.direct !== null) return this.nextDirect();
    const queue = this.queue;
    if (!this.haveHeader && !this.readHeader(soFar)) return null;
    const length = this.payloadLength;
    if (queue.length < length) return null;
    this.haveHeader = false;
    const frame = this.frame ??= newFrame();
    const chunk = queue.headChunk();
    const at = queue.headOffset;
    if (length === 0) {
      frame.payload = EMPTY;
      frame.start = frame.end = 0;
      frame.owned = false;
    } else if (length <= chunk!.length - at) {
      // The whole payload lies in one received chunk: it is read there.
      frame.payload = chunk!;
      frame.start = at;
      frame.end = at + length;
      frame.owned = false;
      queue.skip(length);
    } else {
      // Spread over several chunks: gathered into one exact, unpooled buffer.
      const payload = Buffer.allocUnsafeSlow(length);
      queue.moveInto(payload, 0, length);
      frame.payload = payload;
      frame.start = 0;
      frame.end = length;
      frame.owned = true;
    }
    if (this.masked) this.unmask(frame.payload, frame.start, frame.end);
    frame.fin = this.fin;
    frame.opcode = this.opcode;
    frame.rsv1 = this.rsv1;
    return frame;
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
    const { payload } = direct;
    if (direct.masked) this.unmask(payload, 0, payload.length);
    const frame = this.frame ??= newFrame();
    frame.fin = true;
    frame.opcode = direct.opcode;
    frame.rsv1 = false;
    frame.payload = payload;
    frame.start = 0;
    frame.end = payload.length;
    frame.owned = true;
    return frame;
  }

  private unmask(bytes: Uint8Array, start: number, end: number): void {
    const key = this.maskKey;
    KEY[0] = key >>> 24;
    KEY[1] = (key >>> 16) & 0xff;
    KEY[2] = (key >>> 8) & 0xff;
    KEY[3] = key & 0xff;
    maskRange(bytes, start, end, KEY, 0);
  }

  /**
   * Reads the next header, from the chunk it starts in, or from a copy when it is split across
   * chunks. Returns false until it is complete.
   */
  private readHeader(soFar: MessageSoFar): boolean {
    const queue = this.queue;
    if (queue.length < 2) return false;
    const chunk = queue.headChunk()!;
    const at = queue.headOffset;
    const inChunk = chunk.length - at;
    let headerLength = inChunk >= 2 ? this.parseHeader(chunk, at, inChunk, soFar) : 0;
    if (headerLength === 0) {
      if (queue.length === inChunk) return false;
      const n = Math.min(MAX_HEADER_BYTES, queue.length);
      queue.peekInto(HEADER_BYTES, n);
      headerLength = this.parseHeader(HEADER_BYTES, 0, n, soFar);
      if (headerLength === 0) return false;
    }
    queue.skip(headerLength);
    this.haveHeader = true;
    return true;
  }

  /**
   * Checks and reads the header at `bytes[at]`, of which `available` bytes (at least 2) are there.
   * Returns the header's length with the fields of this reader set, or 0 when it goes on beyond
   * `available`. The rules are checked on the first two bytes, before the rest has arrived.
   */
  private parseHeader(bytes: Uint8Array, at: number, available: number, soFar: MessageSoFar): number {
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
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
    const control = isControlOpcode(opcode);
    // RFC 7692 6: RSV1 marks a whole message as compressed, so only its first frame carries it;
    // control frames are never compressed.
    if (rsv1 && control) {
      throw new ProtocolError('ERR_WS_RSV1_ON_CONTROL_FRAME', 'RSV1 set on a control frame');
    }
    if (rsv1 && opcode === 0) {
      throw new ProtocolError('ERR_WS_RSV1_ON_CONTINUATION', 'RSV1 set on a continuation frame');
    }
    if (control) {
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
    if (available < headerLength) return 0;

    let payloadLength = shortLength;
    if (extraLength === 2) {
      payloadLength = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    } else if (extraLength === 8) {
      const high = (bytes[at + 2]! * 2 ** 24) + (bytes[at + 3]! << 16) + (bytes[at + 4]! << 8) + bytes[at + 5]!;
      if (high >= 2 ** 31) {
        throw new ProtocolError('ERR_WS_INVALID_LENGTH', 'Payload length with the most significant bit set');
      }
      const low = (bytes[at + 6]! * 2 ** 24) + (bytes[at + 7]! << 16) + (bytes[at + 8]! << 8) + bytes[at + 9]!;
      // Beyond 2^53 the number is inexact, but any such length is far above every limit anyway.
      payloadLength = high * 2 ** 32 + low;
    }

    if (!control) {
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

    if (masked) {
      const key = at + 2 + extraLength;
      this.maskKey = ((bytes[key]! << 24) | (bytes[key + 1]! << 16) | (bytes[key + 2]! << 8) | bytes[key + 3]!) >>> 0;
    }
    this.fin = fin;
    this.rsv1 = rsv1;
    this.opcode = opcode;
    this.payloadLength = payloadLength;
    this.masked = masked;
    return headerLength;
  }
}

function newFrame(): Frame {
  return { fin: false, opcode: 0, payload: EMPTY, start: 0, end: 0, owned: false, rsv1: false };
}

/*
 * Scratch bytes shared by every reader: parsing is synchronous, so no two readers use them at once,
 * and a connection holds none of them while idle.
 */
/** A header split across chunks is copied here to be read. */
const HEADER_BYTES = new Uint8Array(MAX_HEADER_BYTES);
/** The masking key, as maskRange() takes it. */
const KEY = new Uint8Array(4);
/** At most this many unparsed bytes are copied out of a chunk so that its memory can be read into again. */
const RELEASE_COPY_MAX = 8 * 1024;
const EMPTY = Buffer.alloc(0);
