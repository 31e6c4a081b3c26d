import { isAscii, isUtf8 } from 'node:buffer';

// ignoreBOM: a leading U+FEFF is part of the message (as Buffer#toString keeps it for short ones).
const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Node's Buffer decodes a range into a string without a view object (methods of every Buffer). */
interface RangeDecoding {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/**
 * Up to this many bytes, a loop in JavaScript checks for ASCII faster than a view object and a
 * call into native code would: most small messages (JSON, telemetry) are short ASCII.
 */
const SHORT_TEXT = 64;

/**
 * Decodes the UTF-8 bytes `bytes[start, end)` (all of them by default), or returns null when they
 * are not valid UTF-8 (RFC 6455 8.1).
 */
export function decodeUtf8(bytes: Buffer, start = 0, end = bytes.length): string | null {
  const decode = bytes as unknown as RangeDecoding;
  if (end - start <= SHORT_TEXT) {
    let bits = 0;
    for (let i = start; i < end; i++) bits |= bytes[i]!;
    // ASCII: a one-byte string copied as it is, with no decoding.
    if (bits < 0x80) return decode.latin1Slice(start, end);
  }
  // A plain Uint8Array view: cheaper to make than a Buffer's subarray().
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
  // ASCII (most JSON): one SIMD check, then the bytes copied as they are.
  if (isAscii(view)) return decode.latin1Slice(start, end);
  // Short strings: Buffer's own decoding after a validity check is the fastest path in Node.
  if (view.length < 256) return isUtf8(view) ? decode.utf8Slice(start, end) : null;
  try {
    return fatalDecoder.decode(view);
  } catch {
    return null;
  }
}
