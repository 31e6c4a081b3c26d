import { isAscii, isUtf8 } from 'node:buffer';

// ignoreBOM: a leading U+FEFF is part of the message (as Buffer#toString keeps it for short ones).
const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8, or returns null when the bytes are not valid UTF-8 (RFC 6455 8.1). */
export function decodeUtf8(bytes: Buffer): string | null {
  // ASCII (most JSON): one SIMD check, then a one-byte string copied as is, with no decoding.
  if (isAscii(bytes)) return bytes.toString('latin1');
  // Short strings: Buffer#toString after a validity check is the fastest path in Node.
  if (bytes.length < 256) return isUtf8(bytes) ? bytes.toString('utf8') : null;
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    return null;
  }
}
