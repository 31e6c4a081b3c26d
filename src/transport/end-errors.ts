// What an unclean end of a connection says: the errors Connection reports in ConnectionEnd.error.
// Messages are for people; the close code and reason travel in ConnectionEnd itself.

export interface PeerClose {
  code: number;
  reason: string;
}

/**
 * The peer's Close arrived while data of ours was not completely written. Our Close cannot follow
 * half a frame, so the rest is dropped and TCP closed: an unclean end that carries the peer's code
 * and reason (Chrome; WPT websockets/stream remote-close.any.js and write.any.js).
 */
export class PeerClosedWhileSending extends Error {
  constructor(readonly code: number, readonly reason: string) {
    super(`The peer closed the connection (${describeClose({ code, reason })}) while a message was still being sent; ` +
      'the rest of it was dropped');
    this.name = 'PeerClosedWhileSending';
  }
}

/**
 * A socket error as the application should read it: a reset or broken pipe met while we had data
 * to write says so, instead of a bare "write ECONNRESET".
 */
export function socketFailure(error: Error, sending: boolean): Error {
  const { code, syscall } = error as NodeJS.ErrnoException;
  if ((code === 'ECONNRESET' || code === 'EPIPE') && (syscall === 'write' || sending)) {
    return new Error(`The peer reset the connection while we were sending (${error.message})`, { cause: error });
  }
  return error;
}

/** The error of an unclean end, given what failed (if anything) and the peer's Close (if read). */
export function uncleanEnd(failure: Error | null, peerClose: PeerClose | null): Error {
  if (peerClose === null) return failure ?? new Error('Connection closed without a closing handshake');
  if (failure instanceof PeerClosedWhileSending) return failure;
  const closed = `The peer closed the connection (${describeClose(peerClose)})`;
  if (failure === null) return new Error(`${closed} and dropped it before our Close was written`);
  return new Error(`${closed}, then: ${failure.message}`, { cause: failure });
}

function describeClose({ code, reason }: PeerClose): string {
  return reason === '' ? `code ${code}` : `code ${code}, reason ${JSON.stringify(reason)}`;
}
