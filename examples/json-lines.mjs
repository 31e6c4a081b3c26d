// A JSON-lines feed: text messages carry newline-delimited JSON, and a line may be split across
// messages. A TransformStream turns the text into one parsed object per line.
// Usage: node examples/json-lines.mjs ws://127.0.0.1:8080
import { WebSocketStream } from 'websocketstream';

/** Text chunks in, one parsed JSON value per complete line out. */
function jsonLines() {
  let rest = '';
  return new TransformStream({
    transform(text, controller) {
      const lines = (rest + text).split('\n');
      rest = lines.pop();
      for (const line of lines) if (line.trim() !== '') controller.enqueue(JSON.parse(line));
    },
    flush(controller) {
      if (rest.trim() !== '') controller.enqueue(JSON.parse(rest));
    },
  });
}

const wss = new WebSocketStream(process.argv[2] ?? 'ws://127.0.0.1:8080');
const { readable } = await wss.opened;

let total = 0;
for await (const event of readable.pipeThrough(jsonLines())) {
  total += event.amount;
  console.log(`${event.type}: ${event.amount}`);
}
console.log(`total: ${total}`);
