import type { IncomingMessage } from 'node:http';
import type { ProtocolSelector } from './options.js';

/**
 * Picks the subprotocol for the 101 response (RFC 6455 4.2.2 point 5, /subprotocol/): the
 * server's list is searched in the client's order of preference, so the client's first choice
 * that the server speaks wins. Names compare exactly. No match means no Sec-WebSocket-Protocol
 * header; the client then decides whether it can live without one (browsers cannot).
 */
export async function selectProtocol(
  offered: string[],
  supported: readonly string[] | ProtocolSelector,
  request: IncomingMessage,
): Promise<string> {
  if (typeof supported !== 'function') {
    return offered.find((protocol) => supported.includes(protocol)) ?? '';
  }
  const chosen = await supported([...offered], request);
  if (chosen === undefined || chosen === null || chosen === '') return '';
  if (typeof chosen !== 'string' || !offered.includes(chosen)) {
    // Answering with a name the client did not offer would make it fail the connection anyway.
    throw new TypeError(`protocols() returned ${JSON.stringify(chosen)}, which the client did not offer`);
  }
  return chosen;
}
