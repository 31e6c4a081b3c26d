// The few WebIDL conversions the classic WebSocket interface needs. The browser does these in its
// bindings before any WebSocket algorithm runs; we do them at the top of each method.

/** USVString: the same conversion WebSocketStream uses. */
export { requireArguments, toUSVString } from '../stream/websocket-error.js';

/** `unsigned short` (no annotation): NaN and infinities become 0, the rest wraps modulo 2^16. */
export function toUnsignedShort(value: unknown): number {
  const number = Number(value);
  if (!Number.isFinite(number)) return 0;
  const integer = Math.trunc(number);
  return ((integer % 0x10000) + 0x10000) % 0x10000;
}

/**
 * `[Clamp] unsigned short`, the type of close()'s code: NaN becomes 0, the rest is clamped to
 * 0..65535 and rounded to the nearest integer, ties to even.
 */
export function toClampedUnsignedShort(value: unknown): number {
  const number = Number(value);
  if (Number.isNaN(number)) return 0;
  const clamped = Math.min(Math.max(number, 0), 0xffff);
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * `(DOMString or sequence<DOMString>) protocols = []`: an iterable object is a sequence, anything
 * else (null included) is one string. "If protocols is a string, set protocols to a sequence
 * consisting of just that string."
 */
export function toProtocolList(value: unknown): string[] {
  if (value === undefined) return [];
  if ((typeof value === 'object' || typeof value === 'function') && value !== null
    && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function') {
    return Array.from(value as Iterable<unknown>, (item) => String(item));
  }
  return [String(value)];
}
