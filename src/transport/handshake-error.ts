/** Raised when the opening handshake fails; the message says why. */
export class HandshakeError extends Error {
  override name = 'HandshakeError';

  /**
   * @param location for a redirect (301, 302, 303, 307, 308), the Location the server gave; the
   *   client follows it when asked to.
   */
  constructor(message: string, readonly location: string | null = null) {
    super(message);
  }
}
