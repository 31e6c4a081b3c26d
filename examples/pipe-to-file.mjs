// Save every binary message to a file. pipeTo waits for each file write, so a slow disk slows
// the reads from the socket, and the sender, instead of filling memory.
// Usage: node examples/pipe-to-file.mjs ws://127.0.0.1:8080 out.bin
import { createWriteStream } from 'node:fs';
import { toWritableStream, WebSocketStream } from 'websocketstream';

const [url = 'ws://127.0.0.1:8080', path = 'out.bin'] = process.argv.slice(2);
const wss = new WebSocketStream(url, {
  // Queue up to 1 MiB of messages (instead of one message) before pausing the socket.
  readableStrategy: new ByteLengthQueuingStrategy({ highWaterMark: 1024 * 1024 }),
});
const { readable } = await wss.opened;
// toWritableStream, not Writable.toWeb: on Node 20 the latter queues up to 16384 messages.
await readable.pipeTo(toWritableStream(createWriteStream(path)));
console.log(`saved to ${path}`);
