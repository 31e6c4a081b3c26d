// Tells failures apart by their stable code (docs/errors.md), not by their message.
// Usage: node examples/error-codes.mjs ws://host:port/
import { WebSocketStream } from 'websocketstream';

const wss = new WebSocketStream(process.argv[2]);
const { readable } = await wss.opened;
try {
  for await (const message of readable) console.log('message:', message);
} catch (error) {
  // A WebSocketError; the error underneath is its cause.
  const { code, closeCode } = error.cause;
  if (code === 'ERR_WS_INVALID_UTF8') console.log(`the peer sent invalid UTF-8; we closed with ${closeCode}`);
  else console.log(`failed: ${code}`);
}
