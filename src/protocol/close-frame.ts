import { CloseCode, isValidWireCloseCode } from './close-codes.js';
import { ProtocolError } from './protocol-error.js';
import { decodeUtf8 } from './utf8.js';

export interface CloseInfo {
  /** 1005 when the Close frame had no body. */
  code: number;
  reason: string;
}

/** Reads the body of a received Close frame (RFC 6455 5.5.1), rejecting what the peer may not send. */
export function parseCloseBody(body: Buffer): CloseInfo {
  if (body.length === 0) return { code: CloseCode.NoStatusReceived, reason: '' };
  if (body.length === 1) throw new ProtocolError('ERR_WS_INVALID_CLOSE_BODY', 'Close frame with a 1-byte body');
  const code = body.readUInt16BE(0);
  if (!isValidWireCloseCode(code)) {
    throw new ProtocolError('ERR_WS_INVALID_CLOSE_CODE', `Invalid close code ${code}`);
  }
  const reason = decodeUtf8(body.subarray(2));
  if (reason === null) throw new ProtocolError('ERR_WS_INVALID_UTF8', 'Close reason is not valid UTF-8');
  return { code, reason };
}

/** The body of a Close frame we send: empty when no code is given. */
export function encodeCloseBody(code?: number, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const reasonBytes = Buffer.from(reason, 'utf8');
  const body = Buffer.allocUnsafe(2 + reasonBytes.length);
  body.writeUInt16BE(code, 0);
  reasonBytes.copy(body, 2);
  return body;
}
