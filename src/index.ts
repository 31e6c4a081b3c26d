export { WebSocketStream } from './stream/websocket-stream.js';
export type { WebSocketOpenInfo, WebSocketClosedInfo } from './stream/websocket-stream.js';
export { WebSocketError } from './stream/websocket-error.js';
export type { WebSocketCloseInfo } from './stream/websocket-error.js';
export type { WebSocketStreamOptions } from './stream/options.js';
export { acceptWebSocketStream } from './server/accept.js';
export type { AcceptOptions, HandshakeRefusal, HeadersInput, ProtocolSelector, VerifyResult } from './server/options.js';
export { serve } from './server/serve.js';
export type { ConnectionHandler, ServeOptions, WebSocketStreamServer } from './server/serve.js';
