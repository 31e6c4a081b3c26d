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
