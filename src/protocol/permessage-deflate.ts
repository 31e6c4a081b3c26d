import { HandshakeError } from './handshake-error.js';
import { parseExtensionHeader, type ExtensionOffer } from './extension-header.js';

/**
 * permessage-deflate negotiation (RFC 7692 section 7), with no I/O: the client's offer, the
 * server's choice among offers, and the client's strict check of the server's answer. The zlib
 * work itself lives in transport/deflate.ts.
 */

export const EXTENSION_NAME = 'permessage-deflate';

/** What both ends agreed to. Window bits are 8..15; absent parameters mean 15 / takeover allowed. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** Tuning shared by both roles: which messages are compressed, and zlib's effort. */
export interface DeflateTuning {
  /** Messages shorter than this many bytes are sent uncompressed. */
  threshold: number;
  /** zlib compression level, 0..9. */
  level: number;
  /** zlib memLevel, 1..9: memory of the compressor's hash table (2^(memLevel+9) bytes). */
  memLevel: number;
}

/**
 * The client's offer. `clientMaxWindowBits: true` offers the parameter without a value ("I can
 * honour a limit", as Chrome does); a number asks for that limit; `false` leaves it out.
 * `serverMaxWindowBits` undefined leaves that parameter out.
 */
export interface ClientDeflateOffer {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  clientMaxWindowBits: number | boolean;
}

/** The server's policy: what it asks of clients and the limits of its own compressor. */
export interface ServerDeflatePolicy {
  /** Always answer server_no_context_takeover (our compressor forgets between messages). */
  serverNoContextTakeover: boolean;
  /** Always answer client_no_context_takeover (the client's compressor forgets: we may too). */
  clientNoContextTakeover: boolean;
  /** Largest window our compressor uses, 9..15. */
  serverMaxWindowBits: number;
  /** Window we ask of a client that offered client_max_window_bits, 8..15 (15: no limit asked). */
  clientMaxWindowBits: number;
}

/**
 * zlib turns a raw-deflate window of 8 bits into 9 (since zlib 1.2.9), which a peer holding us to
 * 8 could reject; so our own compressor never agrees to 8. Receiving from an 8-bit peer is fine.
 */
export const MIN_OWN_WINDOW_BITS = 9;

export function formatOffer(offer: ClientDeflateOffer): string {
  const parts = [EXTENSION_NAME];
  if (offer.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (offer.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (offer.serverMaxWindowBits !== undefined) parts.push(`server_max_window_bits=${offer.serverMaxWindowBits}`);
  if (offer.clientMaxWindowBits === true) parts.push('client_max_window_bits');
  else if (typeof offer.clientMaxWindowBits === 'number') parts.push(`client_max_window_bits=${offer.clientMaxWindowBits}`);
  return parts.join('; ');
}

function formatParams(params: DeflateParams, includeClientBits: boolean): string {
  const parts = [EXTENSION_NAME];
  if (params.serverNoContextTakeover) parts.push('server_no_context_takeover');
  if (params.clientNoContextTakeover) parts.push('client_no_context_takeover');
  if (params.serverMaxWindowBits !== 15) parts.push(`server_max_window_bits=${params.serverMaxWindowBits}`);
  if (includeClientBits) parts.push(`client_max_window_bits=${params.clientMaxWindowBits}`);
  return parts.join('; ');
}

interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** undefined: absent. */
  serverMaxWindowBits: number | undefined;
  /** undefined: absent; true: present without a value. */
  clientMaxWindowBits: number | true | undefined;
}

/**
 * Reads the four parameters of one permessage-deflate element, rejecting unknown or repeated
 * names and bad values (RFC 7692 5 and 7.1). `who` names the sender in messages.
 */
function readParams(offer: ExtensionOffer, who: string): ParsedParams {
  const seen = new Set<string>();
  const parsed: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  for (const [name, value] of offer.params) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `${who} repeated the permessage-deflate parameter ${name}`);
    seen.add(lower);
    switch (lower) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `${who} gave the permessage-deflate parameter ${name} a value (${JSON.stringify(value)}); it takes none`);
        if (lower === 'server_no_context_takeover') parsed.serverNoContextTakeover = true;
        else parsed.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        parsed.serverMaxWindowBits = windowBits(name, value, who);
        break;
      case 'client_max_window_bits':
        parsed.clientMaxWindowBits = value === true ? true : windowBits(name, value, who);
        break;
      default:
        throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `${who} sent the unknown permessage-deflate parameter ${name}`);
    }
  }
  return parsed;
}

function windowBits(name: string, value: string | true, who: string): number {
  if (value === true) throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `${who} sent the permessage-deflate parameter ${name} without a value`);
  if (!/^[0-9]{1,2}$/.test(value) || Number(value) < 8 || Number(value) > 15) {
    throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `${who} sent the permessage-deflate parameter ${name}=${value}; it must be an integer from 8 to 15`);
  }
  return Number(value);
}

/**
 * Client side: checks the server's Sec-WebSocket-Extensions answer against our offer. Returns the
 * agreed parameters, null when the server declined (no header), or throws an Error saying exactly
 * what is wrong; the caller fails the handshake with it (RFC 6455 4.1 point 5, RFC 7692 7.1).
 */
export function acceptServerAnswer(header: string | undefined, offer: ClientDeflateOffer | null): DeflateParams | null {
  if (header === undefined || header.trim() === '') return null;
  const elements = parseExtensionHeader(header);
  for (const element of elements) {
    if (element.name.toLowerCase() !== EXTENSION_NAME || offer === null) {
      throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `Server named an extension that was not offered: ${element.name} (in ${JSON.stringify(header)})`);
    }
  }
  if (elements.length > 1) throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `Server accepted permessage-deflate more than once: ${JSON.stringify(header)}`);
  const params = readParams(elements[0]!, 'Server');
  const o = offer!;
  if (o.serverNoContextTakeover && !params.serverNoContextTakeover) {
    throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', 'Server did not accept server_no_context_takeover, which the offer required');
  }
  if (o.serverMaxWindowBits !== undefined) {
    if (params.serverMaxWindowBits === undefined) {
      throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `Server did not answer server_max_window_bits, which the offer limited to ${o.serverMaxWindowBits}`);
    }
    if (params.serverMaxWindowBits > o.serverMaxWindowBits) {
      throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `Server answered server_max_window_bits=${params.serverMaxWindowBits}, above the ${o.serverMaxWindowBits} offered`);
    }
  }
  let clientBits = 15;
  if (params.clientMaxWindowBits !== undefined) {
    if (params.clientMaxWindowBits === true) {
      throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', 'Server sent client_max_window_bits without a value');
    }
    if (o.clientMaxWindowBits === false) {
      throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', 'Server sent client_max_window_bits, which the offer did not include');
    }
    if (typeof o.clientMaxWindowBits === 'number' && params.clientMaxWindowBits > o.clientMaxWindowBits) {
      throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `Server answered client_max_window_bits=${params.clientMaxWindowBits}, above the ${o.clientMaxWindowBits} offered`);
    }
    clientBits = params.clientMaxWindowBits;
  } else if (typeof o.clientMaxWindowBits === 'number') {
    // We announced a limit on our own window and the server did not echo it: we hold to it anyway.
    clientBits = o.clientMaxWindowBits;
  }
  if (clientBits < MIN_OWN_WINDOW_BITS) {
    throw new HandshakeError('ERR_WS_EXTENSION_NEGOTIATION', `Server asked for client_max_window_bits=${clientBits}; zlib cannot compress with a window under ${MIN_OWN_WINDOW_BITS} bits`);
  }
  return {
    serverNoContextTakeover: params.serverNoContextTakeover,
    clientNoContextTakeover: params.clientNoContextTakeover,
    serverMaxWindowBits: params.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: clientBits,
  };
}

/**
 * Server side: picks the first acceptable permessage-deflate offer of the client (in its order) and
 * returns the agreed parameters with the answer to send. An offer with unknown, repeated or invalid
 * parameters is declined (RFC 7692 5), as is one we cannot honour; null when none is acceptable.
 * Throws on a header outside the RFC 6455 grammar (the caller answers 400).
 */
export function negotiateAsServer(
  header: string | undefined,
  policy: ServerDeflatePolicy,
): { params: DeflateParams; answer: string } | null {
  if (header === undefined || header.trim() === '') return null;
  for (const element of parseExtensionHeader(header)) {
    if (element.name.toLowerCase() !== EXTENSION_NAME) continue;
    let offered: ParsedParams;
    try {
      offered = readParams(element, 'Client');
    } catch {
      continue;
    }
    let serverBits = policy.serverMaxWindowBits;
    if (offered.serverMaxWindowBits !== undefined) serverBits = Math.min(serverBits, offered.serverMaxWindowBits);
    if (serverBits < MIN_OWN_WINDOW_BITS) continue;
    // client_max_window_bits may be answered only when offered; then with a value at most the
    // client's (our policy's limit otherwise).
    let clientBits = 15;
    let answerClientBits = false;
    if (offered.clientMaxWindowBits !== undefined) {
      clientBits = offered.clientMaxWindowBits === true
        ? policy.clientMaxWindowBits
        : Math.min(offered.clientMaxWindowBits, policy.clientMaxWindowBits);
      answerClientBits = clientBits !== 15 || offered.clientMaxWindowBits !== true;
    }
    const params: DeflateParams = {
      serverNoContextTakeover: policy.serverNoContextTakeover || offered.serverNoContextTakeover,
      clientNoContextTakeover: policy.clientNoContextTakeover || offered.clientNoContextTakeover,
      serverMaxWindowBits: serverBits,
      clientMaxWindowBits: clientBits,
    };
    // server_max_window_bits must be echoed when offered, even at 15.
    let answer = formatParams(params, answerClientBits);
    if (offered.serverMaxWindowBits !== undefined && serverBits === 15) answer += '; server_max_window_bits=15';
    return { params, answer };
  }
  return null;
}
