import { CloseCode, MAX_CLOSE_REASON_BYTES } from './close-codes.js';
import type { CloseInfo } from './close-frame.js';
import { encodeCloseBody } from './close-frame.js';
import { encodeFrame, encodeTextFrame } from './frame-writer.js';
import { decodeMessage, MessageReader, type ReceivedEvent } from './message-reader.js';
import { Opcode } from './opcodes.js';
import type { DeflateParams } from './permessage-deflate.js';
import { closeCodeOf } from './protocol-error.js';

export type Role = 'client' | 'server';

/**
 * Where the closing handshake stands (RFC 6455 7.1). Frames are parsed in `Open` and `ClosingByUs`
 * (the peer may still send data before its Close); messages may be sent in `Open` and
 * `ClosingByPeer`. `Closed`: both Close frames exchanged, or the connection was failed.
 */
export const ConnectionState = {
  Open: 'open',
  /** Our Close was sent; the peer's has not arrived. */
  ClosingByUs: 'closing-by-us',
  /** The peer's Close arrived; ours has not been sent (it is about to be, or TCP is dropped). */
  ClosingByPeer: 'closing-by-peer',
  Closed: 'closed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

export interface ProtocolOptions {
  role: Role;
  /** Largest incoming message in bytes; larger ones fail the connection with 1009. */
  maxPayload: number;
  /** permessage-deflate was agreed: RSV1 marks compressed messages (inflated by the caller). */
  deflate: boolean;
}

/**
 * What next() found. Besides the received events: `failed` when the peer broke the protocol; the
 * connection is then Closed, and `closeFrame` is the Close that tells the peer why. It is to be
 * sent unless `closeAlreadySent` (our Close went out before the violation was found).
 */
export type ProtocolEvent =
  | ReceivedEvent
  | { type: 'failed'; error: Error; closeFrame: Buffer; closeAlreadySent: boolean };

/**
 * One WebSocket connection after the opening handshake, without I/O: bytes in (receive()), events
 * out (next()), calls in (send/close/fail/ping/pong) and frames out, as return values for the caller
 * to write. It owns the closing handshake, the failure rules and the limits; the caller owns the
 * socket, timers, backpressure and zlib (a compressed message comes out as a `compressed` event and
 * goes back in through inflated()).
 */
export class ProtocolConnection {
  state: ConnectionState = ConnectionState.Open;
  /** The peer's Close (its code is 1005 when the frame had no body), once received. */
  peerClose: CloseInfo | null = null;
  /** The violation that failed the connection, if any. */
  failure: Error | null = null;
  private readonly reader: MessageReader;
  private readonly mask: boolean;

  constructor(options: ProtocolOptions) {
    this.mask = options.role === 'client';
    this.reader = new MessageReader({
      expectMasked: options.role === 'server',
      maxPayload: options.maxPayload,
      deflate: options.deflate,
    });
  }

  /** Frames from the peer are still parsed: neither its Close nor a failure has ended the input. */
  get receiving(): boolean {
    return this.state === ConnectionState.Open || this.state === ConnectionState.ClosingByUs;
  }

  /** Our Close has been sent (or handed over to be): no more data, pings or pongs. */
  get closeSent(): boolean {
    return this.state === ConnectionState.ClosingByUs || this.state === ConnectionState.Closed;
  }

  /** Bytes received from the peer; ignored once the input has ended. */
  receive(chunk: Buffer): void {
    if (this.receiving) this.reader.push(chunk);
  }

  /**
   * The caller wants to read into `chunk` (the last one received) again: true once nothing here
   * views it any more (unparsed bytes of it are copied out), false when it must be let go instead.
   * Events handed out never view a chunk, except a compressed message's fragments.
   */
  release(chunk: Buffer): boolean {
    return this.receiving ? this.reader.release(chunk) : true;
  }

  /**
   * Where the next read may land to go straight into a message's own buffer, or null to read into
   * a chunk and receive() it (see FrameReader.payloadTarget).
   */
  payloadTarget(minBytes: number): Uint8Array | null {
    return this.receiving ? this.reader.payloadTarget(minBytes) : null;
  }

  /** `n` bytes were read into the buffer that payloadTarget() returned. */
  payloadReceived(target: Uint8Array, n: number): void {
    if (this.receiving) this.reader.payloadReceived(target, n);
  }

  /**
   * Parses the next event from the bytes received, or returns null until more arrive. Parsing is
   * lazy: the caller asks only while it has room for what comes out (backpressure).
   */
  next(): ProtocolEvent | null {
    if (!this.receiving) return null;
    let event: ReceivedEvent | null;
    try {
      event = this.reader.next();
    } catch (error) {
      return this.violation(error as Error);
    }
    if (event?.type === 'close') this.onPeerClose(event);
    return event;
  }

  /** A compressed message, once the caller inflated it: decoded like any message (UTF-8 checked). */
  inflated(opcode: number, payload: Buffer): ProtocolEvent {
    try {
      return decodeMessage(opcode, payload, 0, payload.length, true);
    } catch (error) {
      return this.violation(error as Error);
    }
  }

  private violation(error: Error): ProtocolEvent {
    const closeAlreadySent = this.closeSent;
    return { type: 'failed', error, closeFrame: this.fail(error), closeAlreadySent };
  }

  private onPeerClose(close: CloseInfo): void {
    this.peerClose = { code: close.code, reason: close.reason };
    this.state = this.state === ConnectionState.ClosingByUs ? ConnectionState.Closed : ConnectionState.ClosingByPeer;
    // Nothing after a Close is parsed. Memory: see docs/memory.md#buffers-dropped-after-a-close-or-a-failure.
    this.reader.clear();
  }

  /** A data frame for `data` (text for a string), or null once our Close was sent. */
  send(data: string | Uint8Array): Buffer | null {
    if (this.closeSent) return null;
    return typeof data === 'string' ? encodeTextFrame(data, this.mask) : encodeFrame(Opcode.Binary, data, this.mask);
  }

  /**
   * The data frame (RSV1 set) for a message the caller compressed. No state check: the message was
   * accepted before compressing, and goes out ahead of a Close that followed it.
   */
  compressedFrame(opcode: number, payload: Uint8Array): Buffer {
    return encodeFrame(opcode, payload, this.mask, true);
  }

  /** A Ping frame, or null once our Close was sent. */
  ping(payload: Uint8Array): Buffer | null {
    return this.closeSent ? null : encodeFrame(Opcode.Ping, payload, this.mask);
  }

  /** The Pong answering a Ping, or null once our Close was sent (RFC 6455 5.5.3). */
  pong(payload: Uint8Array): Buffer | null {
    return this.closeSent ? null : encodeFrame(Opcode.Pong, payload, this.mask);
  }

  /**
   * Our Close frame (no body when `code` is undefined), or null when one was sent already. Once
   * the peer's Close has arrived, this is the reply and the handshake is over.
   */
  close(code?: number, reason = ''): Buffer | null {
    if (this.closeSent) return null;
    this.state = this.state === ConnectionState.ClosingByPeer ? ConnectionState.Closed : ConnectionState.ClosingByUs;
    return encodeFrame(Opcode.Close, encodeCloseBody(code, reason), this.mask);
  }

  /**
   * The reply to the peer's Close: its code and reason echoed, as ws and python-websockets do
   * (RFC 6455 5.5.1 asks for the code; clients report the reason of the Close they got back); a
   * body-less Close is answered body-less. Null when ours was sent already.
   */
  replyToClose(): Buffer | null {
    const peer = this.peerClose;
    if (peer === null) throw new Error('replyToClose() before the peer closed');
    return this.close(peer.code === CloseCode.NoStatusReceived ? undefined : peer.code, peer.reason);
  }

  /**
   * Fails the connection (RFC 6455 7.1.7): nothing more is parsed, and the returned Close frame
   * tells the peer why, with the close code that `error` maps to (1011 for anything that is not a
   * ProtocolError). The caller sends it unless its own Close already left.
   */
  fail(error: Error): Buffer {
    this.failure ??= error;
    this.state = ConnectionState.Closed;
    this.reader.clear();
    return encodeFrame(Opcode.Close, encodeCloseBody(closeCodeOf(error), truncateReason(error.message)), this.mask);
  }
}

/** The zlib windows of permessage-deflate for a role: what we inflate with, what we deflate with. */
export function deflateWindows(role: Role, params: DeflateParams): {
  inflate: { windowBits: number; noContextTakeover: boolean };
  deflate: { windowBits: number; noContextTakeover: boolean };
} {
  const client = role === 'client';
  return {
    // We inflate what the peer compressed, with the peer's window and takeover.
    inflate: {
      windowBits: client ? params.serverMaxWindowBits : params.clientMaxWindowBits,
      noContextTakeover: client ? params.serverNoContextTakeover : params.clientNoContextTakeover,
    },
    deflate: {
      windowBits: client ? params.clientMaxWindowBits : params.serverMaxWindowBits,
      noContextTakeover: client ? params.clientNoContextTakeover : params.serverNoContextTakeover,
    },
  };
}

/** Close reasons have a byte limit; cut on a character boundary (messages may hold any text). */
function truncateReason(message: string): string {
  if (Buffer.byteLength(message, 'utf8') <= MAX_CLOSE_REASON_BYTES) return message;
  let cut = message.slice(0, MAX_CLOSE_REASON_BYTES);
  while (Buffer.byteLength(cut, 'utf8') > MAX_CLOSE_REASON_BYTES) cut = cut.slice(0, -1);
  return cut.toWellFormed();
}
