/**
 * The browser entry (the `browser` condition of package.json, or dist/browser.js from a
 * `<script type="module">`): the browser's own WebSocketStream and WebSocketError where it has
 * both (Chrome 124+), otherwise ours built on its WebSocket, with the same API. No Node module.
 */
import { WebSocketStream as FallbackWebSocketStream } from './browser/websocket-stream.js';
import { WebSocketError as FallbackWebSocketError } from './stream/websocket-error.js';

const native = globalThis as { WebSocketStream?: typeof FallbackWebSocketStream; WebSocketError?: typeof FallbackWebSocketError };

/** Whether this browser's own WebSocketStream is in use (false: the fallback on WebSocket). */
export const isNativeWebSocketStream = typeof native.WebSocketStream === 'function' && typeof native.WebSocketError === 'function';

export const WebSocketStream: typeof FallbackWebSocketStream = isNativeWebSocketStream ? native.WebSocketStream! : FallbackWebSocketStream;
export type WebSocketStream = FallbackWebSocketStream;
export const WebSocketError: typeof FallbackWebSocketError = isNativeWebSocketStream ? native.WebSocketError! : FallbackWebSocketError;
export type WebSocketError = FallbackWebSocketError;
export type { WebSocketClosedInfo, WebSocketOpenInfo, WebSocketStreamOptions } from './browser/websocket-stream.js';
export type { WebSocketCloseInfo } from './stream/websocket-error.js';
