import { headerValue, isToken, splitHeaderList, type ReceivedHeaders } from '../protocol/handshake.js';

/**
 * The server's reading of an opening handshake (RFC 6455 4.2.1), with no I/O: the parts of an
 * IncomingMessage it needs in, a verdict out. Every refusal names what was wrong, so the client's
 * developer can read it in the response body.
 */

/** The parts of `http.IncomingMessage` the checks look at. */
export interface UpgradeRequest {
  method?: string | undefined;
  httpVersionMajor?: number;
  httpVersionMinor?: number;
  /** Header names in lower case, as Node gives them. */
  headers: ReceivedHeaders;
}

export interface AcceptableRequest {
  ok: true;
  /** The client's Sec-WebSocket-Key. */
  key: string;
  /** The subprotocols the client offered, in its order of preference. */
  protocols: string[];
}

export interface RefusedRequest {
  ok: false;
  status: number;
  message: string;
  /** Headers the refusal must carry (426 names the versions we speak). */
  headers: Record<string, string>;
}

export const WEBSOCKET_VERSION = '13';

/**
 * base64 of 16 bytes: 22 characters and "==" (RFC 6455 4.2.1 point 5). The unused low bits of the
 * last character are not checked, as a lenient base64 decoder would not either.
 */
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;

/** Longest piece of a client's header quoted back in a refusal: enough to recognise it. */
const QUOTE_LIMIT = 80;

export function checkUpgradeRequest(request: UpgradeRequest): AcceptableRequest | RefusedRequest {
  const { headers } = request;
  if (request.method !== 'GET') {
    return badRequest(`The opening handshake must be a GET request, not ${quote(request.method ?? '')}`);
  }
  const major = request.httpVersionMajor ?? 1;
  const minor = request.httpVersionMinor ?? 1;
  if (major < 1 || (major === 1 && minor < 1)) {
    return badRequest(`The opening handshake needs HTTP/1.1 or later, not HTTP/${major}.${minor}`);
  }
  const upgrade = headerValue(headers, 'upgrade');
  if (upgrade === undefined || !splitHeaderList(upgrade.toLowerCase()).includes('websocket')) {
    return badRequest(`The Upgrade header must name "websocket"; got ${describe(upgrade)}`);
  }
  const connection = headerValue(headers, 'connection');
  if (connection === undefined || !splitHeaderList(connection.toLowerCase()).includes('upgrade')) {
    return badRequest(`The Connection header must include "Upgrade"; got ${describe(connection)}`);
  }
  const host = headerValue(headers, 'host');
  if (host === undefined || host.trim() === '') {
    return badRequest('The Host header is missing');
  }
  const version = headerValue(headers, 'sec-websocket-version');
  if (version?.trim() !== WEBSOCKET_VERSION) {
    // RFC 6455 4.4: a version we do not speak gets 426 and the list of those we do.
    return {
      ok: false,
      status: 426,
      message: `Unsupported Sec-WebSocket-Version ${describe(version)}: this server speaks version ${WEBSOCKET_VERSION}`,
      headers: { 'Sec-WebSocket-Version': WEBSOCKET_VERSION },
    };
  }
  const key = headerValue(headers, 'sec-websocket-key')?.trim();
  if (key === undefined || !KEY_PATTERN.test(key)) {
    return badRequest(`The Sec-WebSocket-Key header must be 16 bytes in base64; got ${describe(key)}`);
  }
  const offered = headerValue(headers, 'sec-websocket-protocol');
  const protocols = offered === undefined ? [] : splitHeaderList(offered);
  const invalid = protocols.find((protocol) => !isToken(protocol));
  if (invalid !== undefined) {
    return badRequest(`Invalid subprotocol ${quote(invalid)} in Sec-WebSocket-Protocol: each must be an HTTP token`);
  }
  return { ok: true, key, protocols };
}

function badRequest(message: string): RefusedRequest {
  return { ok: false, status: 400, message, headers: {} };
}

function describe(value: string | undefined): string {
  return value === undefined ? 'none' : quote(value);
}

function quote(value: string): string {
  const cut = value.length > QUOTE_LIMIT ? `${value.slice(0, QUOTE_LIMIT)}...` : value;
  return JSON.stringify(cut);
}
