// What the WebSocketStream constructor and write() make of the values they are given. No Node
// module here: the browser entry (src/browser/) shares these rules.
import { toUSVString } from './websocket-error.js';

/**
 * Buffers and views are sent as binary (copied when framed); a resizable or shared buffer is a
 * TypeError, as in the draft. Anything else is converted to a string and sent as text.
 */
export function toMessageData(chunk: unknown): string | Uint8Array {
  if (chunk instanceof ArrayBuffer) {
    if ((chunk as ArrayBuffer & { resizable?: boolean }).resizable) throw new TypeError('Resizable ArrayBuffers cannot be sent');
    return new Uint8Array(chunk);
  }
  if (ArrayBuffer.isView(chunk)) {
    const buffer = chunk.buffer as ArrayBufferLike & { resizable?: boolean; growable?: boolean };
    if (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) {
      throw new TypeError('Views on a SharedArrayBuffer cannot be sent');
    }
    if (buffer.resizable) throw new TypeError('Views on a resizable ArrayBuffer cannot be sent');
    return new Uint8Array(buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (typeof SharedArrayBuffer !== 'undefined' && chunk instanceof SharedArrayBuffer) {
    throw new TypeError('SharedArrayBuffers cannot be sent');
  }
  return toUSVString(chunk);
}

/**
 * The URL rules of the WebSocket constructors: absolute URL (or relative to `base`: a browser passes
 * its document's URL; Node has none), http(s) mapped to ws(s), any other scheme or a fragment is a
 * SyntaxError.
 */
export function parseWebSocketUrl(input: string | URL, base?: string): URL {
  let url: URL;
  try {
    url = new URL(String(input), base);
  } catch {
    throw new DOMException(`Invalid URL: ${String(input)}`, 'SyntaxError');
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new DOMException(`The URL's scheme must be ws, wss, http or https; got ${url.protocol}`, 'SyntaxError');
  }
  if (url.hash !== '' || url.href.endsWith('#')) {
    throw new DOMException('The URL must not contain a fragment', 'SyntaxError');
  }
  return url;
}
