// Decode binary messages as UTF-8 text with TextDecoderStream, then split the text into lines.
// Usage: node examples/pipe-through-text.mjs ws://127.0.0.1:8080
import { WebSocketStream } from 'websocketstream';

const wss = new WebSocketStream(process.argv[2] ?? 'ws://127.0.0.1:8080');
const { readable } = await wss.opened;

let rest = '';
const splitLines = new TransformStream({
  transform(text, controller) {
    const lines = (rest + text).split('\n');
    rest = lines.pop();
    for (const line of lines) controller.enqueue(line);
  },
  flush(controller) {
    if (rest) controller.enqueue(rest);
  },
});

for await (const line of readable.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines)) {
  console.log(`line: ${line}`);
}
