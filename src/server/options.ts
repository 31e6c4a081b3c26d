import type { IncomingMessage } from 'node:http';
import { isToken, PROTOCOL_OWNED_HEADERS, validateHeaders, type HeaderLines } from '../protocol/handshake.js';
import type { DeflateTuning, ServerDeflatePolicy } from '../protocol/permessage-deflate.js';
import { resolveServerDeflate, type PerMessageDeflateOptions } from '../stream/deflate-options.js';
import { DEFAULT_CLOSE_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_PAYLOAD, optionalPositiveNumber } from '../stream/options.js';
import { keepaliveSettings } from '../transport/keepalive.js';

/** What a `verify` hook returns: accept (nothing, `true`) or refuse (`false` is 403, or a refusal). */
export type VerifyResult = void | undefined | boolean | HandshakeRefusal;

/** A refused handshake: the HTTP status (300-599), a body for the client, extra headers. */
export interface HandshakeRefusal {
  status: number;
  /** Plain-text body; defaults to the status text. */
  message?: string;
  /** Extra response headers, e.g. `WWW-Authenticate` or `Location`. */
  headers?: HeadersInput;
}

export type HeadersInput = Record<string, string | readonly string[]> | Iterable<readonly [string, string]>;

/**
 * Chooses the subprotocol: gets the client's offer (in its order) and the request; returns one of
 * the offered names, or nothing to accept without a subprotocol.
 */
export type ProtocolSelector = (offered: string[], request: IncomingMessage) =>
  string | null | undefined | Promise<string | null | undefined>;

/** Options of `acceptWebSocketStream(request, socket, head, options)`. */
export interface AcceptOptions {
  /**
   * The subprotocols this server speaks. The first one the client offered (in the client's order)
   * that is in this list is selected. Or a function that chooses.
   */
  protocols?: readonly string[] | ProtocolSelector;
  /** Extra headers for the 101 response. The ones the handshake owns are a TypeError. */
  headers?: HeadersInput;
  /**
   * Runs before the handshake is answered (origin check, authentication). Return nothing or `true`
   * to accept, `false` to refuse with 403, or `{ status, message?, headers? }`. May be async; a
   * throw or rejection refuses with 500 (the message stays on the server).
   */
  verify?: (request: IncomingMessage) => VerifyResult | Promise<VerifyResult>;
  /** Aborts the opening handshake (answered with 503). */
  signal?: AbortSignal;
  /**
   * Milliseconds allowed for `verify`, `protocols()` and the 101 response. Default 30000. With
   * `serve()` also a deadline for the HTTP request head, counted from the TCP connection: a client
   * whose upgrade request has not fully arrived by then is dropped (slowloris).
   */
  handshakeTimeout?: number;
  /**
   * Milliseconds allowed, once a Close frame is sent, for the client's Close and the end of TCP;
   * also how long a refused client may take to hang up. Default 30000.
   */
  closeTimeout?: number;
  /** Largest incoming message in bytes; a larger one closes the connection with 1009. Default 64 MiB. */
  maxPayload?: number;
  /**
   * Milliseconds between pings. A client that sends nothing (no pong, no message) for
   * `keepaliveTimeout` ms of the time we are reading is dropped. Default: no pings.
   */
  keepaliveInterval?: number;
  /** Milliseconds of reading time a client has to answer a ping. Default: `keepaliveInterval`. */
  keepaliveTimeout?: number;
  /** Chunk type of binary messages: `"uint8array"` (default) or `"arraybuffer"`. */
  binaryType?: 'uint8array' | 'arraybuffer';
  /** Queuing strategy of the readable; default: one message. */
  readableStrategy?: QueuingStrategy<string | Uint8Array | ArrayBuffer>;
  /** Queuing strategy of the writable; default: one chunk. */
  writableStrategy?: QueuingStrategy<unknown>;
  /**
   * permessage-deflate (RFC 7692). Default off; `true` or an object accepts a client's offer
   * (the first acceptable one, in the client's order). Costs memory per connection: see
   * docs/compression.md.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

export interface ResolvedAcceptOptions {
  protocols: readonly string[] | ProtocolSelector;
  headers: HeaderLines;
  verify: AcceptOptions['verify'];
  signal: AbortSignal | undefined;
  handshakeTimeout: number;
  closeTimeout: number;
  maxPayload: number;
  keepalive: { interval: number; timeout: number } | null;
  binaryType: AcceptOptions['binaryType'];
  readableStrategy: AcceptOptions['readableStrategy'];
  writableStrategy: AcceptOptions['writableStrategy'];
  deflate: { policy: ServerDeflatePolicy; tuning: DeflateTuning } | null;
}

/** Checks the options; every mistake is a TypeError naming the option. */
export function resolveAcceptOptions(options: unknown): ResolvedAcceptOptions {
  if (options !== undefined && options !== null && typeof options !== 'object') {
    throw new TypeError('acceptWebSocketStream options must be an object');
  }
  const o = (options ?? {}) as AcceptOptions;
  const keepaliveInterval = optionalPositiveNumber(o.keepaliveInterval, 'keepaliveInterval');
  const keepaliveTimeout = optionalPositiveNumber(o.keepaliveTimeout, 'keepaliveTimeout');
  const keepalive = keepaliveSettings(keepaliveInterval, keepaliveTimeout);
  if (o.verify !== undefined && typeof o.verify !== 'function') throw new TypeError('verify must be a function');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  return {
    protocols: resolveProtocols(o.protocols),
    headers: validateHeaders(o.headers, PROTOCOL_OWNED_HEADERS, 'headers'),
    verify: o.verify,
    signal: o.signal,
    handshakeTimeout: optionalPositiveNumber(o.handshakeTimeout, 'handshakeTimeout') ?? DEFAULT_HANDSHAKE_TIMEOUT,
    closeTimeout: optionalPositiveNumber(o.closeTimeout, 'closeTimeout') ?? DEFAULT_CLOSE_TIMEOUT,
    maxPayload: optionalPositiveNumber(o.maxPayload, 'maxPayload') ?? DEFAULT_MAX_PAYLOAD,
    keepalive,
    // Checked by the WebSocketStream constructor, which owns their meaning.
    binaryType: o.binaryType,
    readableStrategy: o.readableStrategy,
    writableStrategy: o.writableStrategy,
    deflate: resolveServerDeflate(o.perMessageDeflate),
  };
}

function resolveProtocols(value: unknown): readonly string[] | ProtocolSelector {
  if (value === undefined) return [];
  if (typeof value === 'function') return value as ProtocolSelector;
  if (value === null || typeof value !== 'object' || typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError('protocols must be an array of strings or a function');
  }
  const protocols = Array.from(value as Iterable<unknown>);
  for (const protocol of protocols) {
    if (typeof protocol !== 'string' || !isToken(protocol)) {
      throw new TypeError(`Invalid subprotocol ${JSON.stringify(protocol)}: it must be an HTTP token`);
    }
  }
  return protocols as string[];
}

/** Headers of a refusal: anything but the framing headers the response writer sets itself. */
export const REFUSAL_OWNED_HEADERS = new Set(['connection', 'content-length', 'content-type', 'transfer-encoding']);
