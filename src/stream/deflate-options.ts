import type { ClientDeflateOffer, DeflateTuning, ServerDeflatePolicy } from '../protocol/permessage-deflate.js';
import { MIN_OWN_WINDOW_BITS } from '../protocol/permessage-deflate.js';

/**
 * The `perMessageDeflate` option of the client (`new WebSocketStream`) and of the server
 * (`acceptWebSocketStream`, `serve`). The four RFC 7692 parameters mean, for each role:
 *
 * - client: what to put in the offer (the server's answer is then checked against it);
 * - server: its policy when answering a client's offer.
 */
export interface PerMessageDeflateOptions {
  /**
   * Client: ask the server to reset its compressor after each message (saves the client's
   * inflate memory, costs ratio). Server: always reset ours, even when the client did not ask.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Client: offer to reset our compressor after each message. Server: ask the client to (our
   * inflate context is then freed between messages).
   */
  clientNoContextTakeover?: boolean;
  /**
   * Client: ask the server to compress with at most this window, 8..15 (default: not asked).
   * Server: the largest window our compressor uses, 9..15 (default 15).
   */
  serverMaxWindowBits?: number;
  /**
   * Client: `true` (default) offers the parameter without a value, as Chrome does; a number
   * 9..15 limits our own window; `false` leaves it out. Server: the window asked of clients that
   * offered the parameter, 8..15 (default 15: nothing asked).
   */
  clientMaxWindowBits?: number | boolean;
  /** Messages shorter than this many bytes go uncompressed. Default 1024. */
  threshold?: number;
  /** zlib level 0..9 for outgoing messages. Default 6 (zlib's default). */
  level?: number;
  /** zlib memLevel 1..9 (hash table of 2^(memLevel+9) bytes). Default 8 (zlib's default). */
  memLevel?: number;
}

export const DEFAULT_DEFLATE_THRESHOLD = 1024;
export const DEFAULT_DEFLATE_LEVEL = 6;
export const DEFAULT_DEFLATE_MEM_LEVEL = 8;

/** Client side: `true`/undefined is Chrome's offer, `false` no offer. */
export function resolveClientDeflate(value: unknown): { offer: ClientDeflateOffer; tuning: DeflateTuning } | null {
  if (value === false) return null;
  const o = checkObject(value);
  const clientBits = o.clientMaxWindowBits ?? true;
  if (typeof clientBits !== 'boolean') integer(clientBits, 'perMessageDeflate.clientMaxWindowBits', MIN_OWN_WINDOW_BITS, 15);
  return {
    offer: {
      serverNoContextTakeover: flag(o.serverNoContextTakeover, 'perMessageDeflate.serverNoContextTakeover'),
      clientNoContextTakeover: flag(o.clientNoContextTakeover, 'perMessageDeflate.clientNoContextTakeover'),
      serverMaxWindowBits: o.serverMaxWindowBits === undefined
        ? undefined
        : integer(o.serverMaxWindowBits, 'perMessageDeflate.serverMaxWindowBits', 8, 15),
      clientMaxWindowBits: clientBits,
    },
    tuning: tuning(o),
  };
}

/** Server side: off unless configured (`true` or an object). */
export function resolveServerDeflate(value: unknown): { policy: ServerDeflatePolicy; tuning: DeflateTuning } | null {
  if (value === undefined || value === false) return null;
  const o = checkObject(value);
  if (typeof o.clientMaxWindowBits === 'boolean') {
    throw new TypeError('perMessageDeflate.clientMaxWindowBits must be a number from 8 to 15 on the server');
  }
  return {
    policy: {
      serverNoContextTakeover: flag(o.serverNoContextTakeover, 'perMessageDeflate.serverNoContextTakeover'),
      clientNoContextTakeover: flag(o.clientNoContextTakeover, 'perMessageDeflate.clientNoContextTakeover'),
      serverMaxWindowBits: o.serverMaxWindowBits === undefined
        ? 15
        : integer(o.serverMaxWindowBits, 'perMessageDeflate.serverMaxWindowBits', MIN_OWN_WINDOW_BITS, 15),
      clientMaxWindowBits: o.clientMaxWindowBits === undefined
        ? 15
        : integer(o.clientMaxWindowBits, 'perMessageDeflate.clientMaxWindowBits', 8, 15),
    },
    tuning: tuning(o),
  };
}

function checkObject(value: unknown): PerMessageDeflateOptions {
  if (value === undefined || value === true) return {};
  if (value === null || typeof value !== 'object') {
    throw new TypeError('perMessageDeflate must be a boolean or an options object');
  }
  return value as PerMessageDeflateOptions;
}

function tuning(o: PerMessageDeflateOptions): DeflateTuning {
  return {
    threshold: o.threshold === undefined ? DEFAULT_DEFLATE_THRESHOLD : integer(o.threshold, 'perMessageDeflate.threshold', 0, Number.MAX_SAFE_INTEGER),
    level: o.level === undefined ? DEFAULT_DEFLATE_LEVEL : integer(o.level, 'perMessageDeflate.level', 0, 9),
    memLevel: o.memLevel === undefined ? DEFAULT_DEFLATE_MEM_LEVEL : integer(o.memLevel, 'perMessageDeflate.memLevel', 1, 9),
  };
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return value;
}

function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}
