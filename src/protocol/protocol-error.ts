import { CloseCode } from './close-codes.js';

/**
 * Every way a peer can break the protocol, by its stable code (documented in docs/errors.md), and
 * the close code we fail the connection with. The one place where a violation becomes a close code.
 */
const VIOLATIONS = {
  /** RSV2/RSV3, or RSV1 without permessage-deflate (RFC 6455 5.2). */
  ERR_WS_RESERVED_BITS: CloseCode.ProtocolError,
  ERR_WS_UNKNOWN_OPCODE: CloseCode.ProtocolError,
  /** RSV1 on a control frame (RFC 7692 6). */
  ERR_WS_RSV1_ON_CONTROL_FRAME: CloseCode.ProtocolError,
  /** RSV1 on a continuation frame: only a message's first frame carries it (RFC 7692 6). */
  ERR_WS_RSV1_ON_CONTINUATION: CloseCode.ProtocolError,
  ERR_WS_FRAGMENTED_CONTROL_FRAME: CloseCode.ProtocolError,
  /** A control frame payload over 125 bytes (RFC 6455 5.5). */
  ERR_WS_CONTROL_FRAME_TOO_LONG: CloseCode.ProtocolError,
  /** A masked frame from a server, or an unmasked one from a client (RFC 6455 5.1). */
  ERR_WS_WRONG_MASKING: CloseCode.ProtocolError,
  /** A 64-bit payload length with its most significant bit set (RFC 6455 5.2). */
  ERR_WS_INVALID_LENGTH: CloseCode.ProtocolError,
  /** A continuation frame with no fragmented message in progress. */
  ERR_WS_UNEXPECTED_CONTINUATION: CloseCode.ProtocolError,
  /** A new text or binary frame while a fragmented message is in progress. */
  ERR_WS_EXPECTED_CONTINUATION: CloseCode.ProtocolError,
  /** A Close frame whose body is one byte long. */
  ERR_WS_INVALID_CLOSE_BODY: CloseCode.ProtocolError,
  /** A close code that may not be sent on the wire (RFC 6455 7.4). */
  ERR_WS_INVALID_CLOSE_CODE: CloseCode.ProtocolError,
  /** A text message or close reason that is not valid UTF-8. */
  ERR_WS_INVALID_UTF8: CloseCode.InvalidPayload,
  /** permessage-deflate data that does not inflate. */
  ERR_WS_INVALID_COMPRESSED_DATA: CloseCode.InvalidPayload,
  /** A message over maxPayload: announced by a header, or reached while inflating. */
  ERR_WS_MESSAGE_TOO_BIG: CloseCode.MessageTooBig,
} as const;

export type ViolationCode = keyof typeof VIOLATIONS;

/**
 * A violation of the protocol by the peer. `code` is its stable identity (for programs and tests;
 * the message is for people); `closeCode` is what we send in our Close frame (1002 protocol error,
 * 1007 invalid data, 1009 too big) before dropping the connection.
 */
export class ProtocolError extends Error {
  readonly code: ViolationCode;
  readonly closeCode: number;

  constructor(code: ViolationCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.closeCode = VIOLATIONS[code];
  }
}

/** The close code a failure is sent with: the violation's own, or 1011 for anything else (our zlib, a bug). */
export function closeCodeOf(error: Error): number {
  return error instanceof ProtocolError ? error.closeCode : CloseCode.InternalError;
}
