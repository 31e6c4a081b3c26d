import { parseCloseBody } from './close-frame.js';
import { compressedSlack, FrameReader, payloadOf, type Frame, type MessageSoFar } from './frame-reader.js';
import { MessageAssembler } from './message-assembler.js';
import { Opcode } from './opcodes.js';
import { ProtocolError } from './protocol-error.js';
import { decodeUtf8 } from './utf8.js';

export type ReceivedEvent =
  | { type: 'text'; data: string }
  | { type: 'binary'; data: Uint8Array }
  | { type: 'ping'; payload: Buffer }
  | { type: 'pong'; payload: Buffer }
  | { type: 'close'; code: number; reason: string }
  /**
   * A complete permessage-deflate message (RSV1 on its first frame), still compressed: the
   * transport inflates it, then turns it into text or binary with decodeMessage().
   */
  | { type: 'compressed'; opcode: number; fragments: Buffer[]; length: number };

export interface MessageReaderOptions {
  /** Server role: incoming frames must be masked. */
  expectMasked: boolean;
  maxPayload: number;
  /** permessage-deflate was agreed: RSV1 marks compressed messages. */
  deflate?: boolean;
}

/**
 * Turns frames into messages (RFC 6455 5.4): joins fragments, lets control frames through between
 * them, validates UTF-8 and close bodies. Binary messages come out as a Uint8Array that owns an
 * ArrayBuffer of exactly its length.
 */
export class MessageReader implements MessageSoFar {
  private readonly maxPayload: number;
  private readonly frames: FrameReader;
  /** Opcode of the fragmented message in progress, or -1. */
  private fragmentedOpcode = -1;
  /** The fragmented message's payload so far, in one buffer (never a list of fragments). */
  private readonly assembled = new MessageAssembler();
  /** The fragmented message in progress had RSV1 on its first frame. */
  private fragmentedCompressed = false;

  constructor(options: MessageReaderOptions) {
    this.maxPayload = options.maxPayload;
    this.frames = new FrameReader({
      expectMasked: options.expectMasked,
      maxPayload: options.maxPayload,
      allowRsv1: options.deflate === true,
    });
  }

  /** MessageSoFar, handed to the frame parser with every next(): bytes of the message in progress. */
  get assembledBytes(): number {
    return this.assembled.length;
  }

  /** MessageSoFar: the message in progress is compressed. */
  get assembledCompressed(): boolean {
    return this.fragmentedCompressed;
  }

  push(chunk: Buffer): void {
    this.frames.push(chunk);
  }

  /** See FrameReader.release: stop viewing the last chunk pushed, so that it can be read into again. */
  release(chunk: Buffer): boolean {
    return this.frames.release(chunk);
  }

  /**
   * Forgets what is buffered: unparsed bytes and the message being assembled, for a connection
   * that will parse nothing more (docs/memory.md#buffers-dropped-after-a-close-or-a-failure).
   */
  clear(): void {
    this.frames.clear();
    this.assembled.take();
    this.fragmentedOpcode = -1;
    this.fragmentedCompressed = false;
  }

  /** Bytes received and not yet returned as events (the property tests check none are left). */
  get bufferedBytes(): number {
    return this.frames.bufferedBytes + this.assembled.length;
  }

  /**
   * Where the next socket read may land to go straight into a message's own buffer (see
   * FrameReader.payloadTarget), or null to read into a chunk and push() it.
   */
  payloadTarget(minBytes: number): Uint8Array | null {
    // A whole-message frame inside a fragmented message is an error, found when the frame is done.
    return this.fragmentedOpcode === -1 ? this.frames.payloadTarget(minBytes) : null;
  }

  /** `n` bytes were read into the buffer that payloadTarget() returned. */
  payloadReceived(target: Uint8Array, n: number): void {
    this.frames.payloadReceived(target, n);
  }

  /** The next event, or null until more bytes arrive. Throws ProtocolError on a violation. */
  next(): ReceivedEvent | null {
    for (;;) {
      const frame = this.frames.next(this);
      if (frame === null) return null;
      const event = this.handle(frame);
      if (event !== null) return event;
    }
  }

  private handle(frame: Frame): ReceivedEvent | null {
    switch (frame.opcode) {
      // Copied (125 bytes at most): no event but a compressed message views a received chunk, so
      // that the transport can read into a chunk again once it is parsed (see release()).
      case Opcode.Ping:
        return { type: 'ping', payload: Buffer.from(payloadOf(frame)) };
      case Opcode.Pong:
        return { type: 'pong', payload: Buffer.from(payloadOf(frame)) };
      case Opcode.Close:
        return { type: 'close', ...parseCloseBody(payloadOf(frame)) };
      case Opcode.Continuation:
        if (this.fragmentedOpcode === -1) {
          throw new ProtocolError('ERR_WS_UNEXPECTED_CONTINUATION', 'Continuation frame without a message to continue');
        }
        this.append(frame);
        if (!frame.fin) return null;
        return this.finishFragmented();
      default: // Text or Binary
        if (this.fragmentedOpcode !== -1) {
          throw new ProtocolError('ERR_WS_EXPECTED_CONTINUATION', 'New data frame before the fragmented message ended');
        }
        if (!frame.fin) {
          this.fragmentedOpcode = frame.opcode;
          this.fragmentedCompressed = frame.rsv1;
          this.append(frame);
          return null;
        }
        if (frame.rsv1) {
          const payload = payloadOf(frame);
          return { type: 'compressed', opcode: frame.opcode, fragments: [payload], length: payload.length };
        }
        return decodeMessage(frame.opcode, frame.payload, frame.start, frame.end, frame.owned);
    }
  }

  /** Copies a fragment into the message being assembled: no fragment outlives its frame. */
  private append(frame: Frame): void {
    const limit = this.maxPayload + (this.fragmentedCompressed ? compressedSlack(this.maxPayload) : 0);
    this.assembled.append(payloadOf(frame), frame.owned, limit);
  }

  private finishFragmented(): ReceivedEvent {
    const { fragmentedOpcode: opcode, fragmentedCompressed: compressed } = this;
    this.fragmentedOpcode = -1;
    this.fragmentedCompressed = false;
    const { bytes, owned } = this.assembled.take();
    if (compressed) return { type: 'compressed', opcode, fragments: [bytes], length: bytes.length };
    return decodeMessage(opcode, bytes, 0, bytes.length, owned);
  }
}

/**
 * A complete message payload, `payload[start, end)`, as an event: text is decoded (invalid UTF-8 is
 * 1007), binary is given its own ArrayBuffer. `owned`: the payload is a fresh buffer of exactly
 * these bytes that nobody else holds, so it becomes the message's own without a copy.
 */
export function decodeMessage(opcode: number, payload: Buffer, start: number, end: number, owned: boolean): ReceivedEvent {
  if (opcode === Opcode.Text) {
    const text = decodeUtf8(payload, start, end);
    if (text === null) throw new ProtocolError('ERR_WS_INVALID_UTF8', 'Text message is not valid UTF-8');
    return { type: 'text', data: text };
  }
  if (owned) return { type: 'binary', data: new Uint8Array(payload.buffer, payload.byteOffset, end - start) };
  return { type: 'binary', data: copyOut(payload, start, end) };
}

/**
 * Copies `bytes[start, end)` into a Uint8Array of its own: a received chunk also holds other
 * messages' bytes, which the application must not see. For a few bytes a plain loop is faster than
 * calling a native copy (which also needs a view object).
 */
function copyOut(bytes: Buffer, start: number, end: number): Uint8Array {
  const length = end - start;
  const data = new Uint8Array(length);
  if (length <= SHORT_COPY) {
    for (let i = 0; i < length; i++) data[i] = bytes[start + i]!;
  } else {
    data.set(new Uint8Array(bytes.buffer, bytes.byteOffset + start, length));
  }
  return data;
}

const SHORT_COPY = 32;
