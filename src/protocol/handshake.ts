import { HandshakeError } from './handshake-error.js';
import { createHash, randomBytes } from 'node:crypto';
import { acceptServerAnswer, type ClientDeflateOffer, type DeflateParams } from './permessage-deflate.js';

/** The GUID of RFC 6455 1.3, appended to the key to compute Sec-WebSocket-Accept. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 4.1). */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

export function computeAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** Request headers that the protocol owns: users may not set them (use `protocols` instead). */
export const PROTOCOL_OWNED_HEADERS = new Set([
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'content-length',
  'transfer-encoding',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An HTTP token (RFC 9110 5.6.2): header names and subprotocol names must be one. */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

/** Header lines in order; a name may repeat (Set-Cookie). */
export type HeaderLines = ReadonlyArray<readonly [string, string]>;

/** Characters Node itself accepts in a header value: tab, visible ASCII and obs-text. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Checks headers given by the application, as an object (a value may be an array: repeated
 * headers) or [name, value] pairs: names are tokens, values hold what Node accepts, and none of
 * `owned` (the headers the handshake writes itself). Returns them as lines in order.
 */
export function validateHeaders(value: unknown, owned: ReadonlySet<string>, what: string): HeaderLines {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'object') throw new TypeError(`${what} must be an object or an iterable of [name, value] pairs`);
  const entries: Iterable<unknown> = typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function'
    ? (value as Iterable<unknown>)
    : Object.entries(value);
  const lines: Array<[string, string]> = [];
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2) throw new TypeError(`Each of ${what} must be a [name, value] pair`);
    const name = String(entry[0]);
    if (!isToken(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)} in ${what}`);
    if (owned.has(name.toLowerCase())) {
      throw new TypeError(`The ${name} header is set by the WebSocket handshake and cannot be given in ${what}`);
    }
    const values: unknown[] = Array.isArray(entry[1]) ? entry[1] : [entry[1]];
    for (const headerValue of values) {
      const text = String(headerValue);
      if (!HEADER_VALUE.test(text)) throw new TypeError(`Invalid value for header ${name} in ${what}`);
      lines.push([name, text.trim()]);
    }
  }
  return lines;
}

/** Splits a comma-separated header value into trimmed, non-empty items. */
export function splitHeaderList(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
}

/** Received HTTP headers as Node gives them: names in lower case, a repeated one maybe an array. */
export type ReceivedHeaders = Record<string, string | string[] | undefined>;

export interface HandshakeResponse {
  statusCode: number;
  statusMessage: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: ReceivedHeaders;
}

export interface HandshakeResult {
  protocol: string;
  /** The server's Sec-WebSocket-Extensions, as sent, or "". */
  extensions: string;
  /** permessage-deflate as agreed, or null. */
  deflate: DeflateParams | null;
}

/**
 * One received header (by its lower-case name) as a single string. Node joins repeated headers with
 * ", " for most names; an array (set-cookie style) is joined the same way. Both roles use it.
 */
export function headerValue(headers: ReceivedHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Checks the server's 101 answer against what the client sent (RFC 6455 4.1, points 1-6).
 * Returns the agreed subprotocol and extensions, or throws an Error saying what is wrong.
 */
export function validateHandshakeResponse(
  response: HandshakeResponse,
  key: string,
  offeredProtocols: readonly string[],
  deflateOffer: ClientDeflateOffer | null = null,
): HandshakeResult {
  const { statusCode, statusMessage, headers } = response;
  if (statusCode !== 101) {
    const kind = statusCode >= 300 && statusCode < 400 ? ' (redirects are not followed)' : '';
    throw new HandshakeError('ERR_WS_UNEXPECTED_RESPONSE', `Unexpected server response: ${statusCode} ${statusMessage}${kind}`.trim());
  }
  const upgrade = headerValue(headers, 'upgrade');
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') {
    throw new HandshakeError('ERR_WS_INVALID_UPGRADE_HEADER', `Invalid Upgrade header in the handshake response: ${JSON.stringify(upgrade ?? null)}`);
  }
  const connection = headerValue(headers, 'connection');
  if (connection === undefined || !splitHeaderList(connection.toLowerCase()).includes('upgrade')) {
    throw new HandshakeError('ERR_WS_INVALID_CONNECTION_HEADER', `Invalid Connection header in the handshake response: ${JSON.stringify(connection ?? null)}`);
  }
  const accept = headerValue(headers, 'sec-websocket-accept');
  if (accept !== computeAccept(key)) {
    throw new HandshakeError('ERR_WS_INVALID_ACCEPT', `Invalid Sec-WebSocket-Accept header in the handshake response: ${JSON.stringify(accept ?? null)}`);
  }
  const extensions = headerValue(headers, 'sec-websocket-extensions');
  // Only permessage-deflate can be offered; anything else named here was not requested.
  const deflate = acceptServerAnswer(extensions, deflateOffer);
  const protocol = headerValue(headers, 'sec-websocket-protocol');
  if (protocol !== undefined) {
    if (offeredProtocols.length === 0) {
      throw new HandshakeError('ERR_WS_UNOFFERED_SUBPROTOCOL', `Server selected subprotocol "${protocol}" but none was offered`);
    }
    if (!offeredProtocols.includes(protocol)) {
      throw new HandshakeError('ERR_WS_UNOFFERED_SUBPROTOCOL', `Server selected subprotocol "${protocol}", which was not offered`);
    }
  }
  return { protocol: protocol ?? '', extensions: deflate === null ? '' : extensions!.trim(), deflate };
}
