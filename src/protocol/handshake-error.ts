/**
 * The stable codes of an opening handshake that failed (documented in docs/errors.md): programs
 * and tests match these, the message is for people.
 */
export type HandshakeErrorCode =
  /** The server answered with a status other than 101 (a redirect not followed, a refusal). */
  | 'ERR_WS_UNEXPECTED_RESPONSE'
  /** A 101 whose Upgrade header is missing or names another protocol. */
  | 'ERR_WS_INVALID_UPGRADE_HEADER'
  /** A 101 whose Connection header lacks "upgrade". */
  | 'ERR_WS_INVALID_CONNECTION_HEADER'
  /** A 101 whose Sec-WebSocket-Accept is missing or wrong. */
  | 'ERR_WS_INVALID_ACCEPT'
  /** The server selected a subprotocol the client did not offer. */
  | 'ERR_WS_UNOFFERED_SUBPROTOCOL'
  /** Extension negotiation failed: a malformed header, an extension or parameter not offered. */
  | 'ERR_WS_EXTENSION_NEGOTIATION'
  /** No answer within handshakeTimeout. */
  | 'ERR_WS_HANDSHAKE_TIMEOUT'
  /** The TCP/TLS connection failed or closed before the handshake completed (see `cause`). */
  | 'ERR_WS_CONNECTION_FAILED'
  /** Redirects: more than maxRedirects, a loop, or a Location that is no WebSocket URL. */
  | 'ERR_WS_REDIRECT'
  /** A proxy refused the tunnel (an HTTP status, a SOCKS5 reply). */
  | 'ERR_WS_PROXY_REFUSED'
  /** A proxy refused or could not take our credentials. */
  | 'ERR_WS_PROXY_AUTH'
  /** The proxy could not be reached, resolved a name, or closed before answering. */
  | 'ERR_WS_PROXY_UNREACHABLE'
  /** A proxy's answer broke its own protocol (not HTTP, not SOCKS5, bytes after its answer). */
  | 'ERR_WS_PROXY_PROTOCOL';

/** Raised when the opening handshake fails; `code` says which way, the message says why. */
export class HandshakeError extends Error {
  override name = 'HandshakeError';

  /**
   * @param location for a redirect (301, 302, 303, 307, 308), the Location the server gave; the
   *   client follows it when asked to.
   */
  constructor(
    readonly code: HandshakeErrorCode,
    message: string,
    readonly location: string | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
