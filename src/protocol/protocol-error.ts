import { CloseCode } from './close-codes.js';

/**
 * A violation of the protocol by the peer. `closeCode` is what we send in our Close frame
 * (1002 protocol error, 1007 invalid data, 1009 too big) before dropping the connection.
 */
export class ProtocolError extends Error {
  readonly closeCode: number;

  constructor(closeCode: number, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.closeCode = closeCode;
  }
}

/**
 * The one place where a failure becomes a close code: a peer's violation carries its own, anything
 * else that fails a connection (our zlib, a bug) is 1011.
 */
export function closeCodeOf(error: Error): number {
  return error instanceof ProtocolError ? error.closeCode : CloseCode.InternalError;
}
