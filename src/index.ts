export { WebSocketStream } from './stream/websocket-stream.js';
export type { WebSocketOpenInfo, WebSocketClosedInfo } from './stream/websocket-stream.js';
export { WebSocketError } from './stream/websocket-error.js';
export type { WebSocketCloseInfo } from './stream/websocket-error.js';
export type { WebSocketStreamOptions } from './stream/options.js';
