// Read every message with `for await`; the socket is read only as fast as this loop runs.
// Usage: node examples/for-await.mjs ws://127.0.0.1:8080
import { WebSocketStream } from 'websocketstream';

const wss = new WebSocketStream(process.argv[2] ?? 'ws://127.0.0.1:8080');
const { readable, writable } = await wss.opened;

const writer = writable.getWriter();
await writer.write('hello');
await writer.write(new Uint8Array([1, 2, 3]));

let count = 0;
for await (const message of readable) {
  console.log(typeof message === 'string' ? `text: ${message}` : `binary: ${message.byteLength} bytes`);
  if (++count === 2) break; // leaving the loop cancels the readable, which closes the connection
}
const { closeCode } = await wss.closed;
console.log(`closed with ${closeCode}`);
