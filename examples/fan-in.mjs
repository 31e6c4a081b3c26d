// Fan-in: several WebSocket feeds merged into one ReadableStream of { source, message }.
// Each feed keeps its own backpressure: a feed is read only while the merged stream has room,
// so a slow consumer slows every sender down instead of buffering their messages.
// Usage: node examples/fan-in.mjs ws://127.0.0.1:8080/a ws://127.0.0.1:8080/b ...
import { WebSocketStream } from 'websocketstream';

/** Merges readables into one; the merged stream closes once all of them have closed. */
function merge(readables) {
  let waiting = [];
  let open = readables.length;
  return new ReadableStream({
    start(controller) {
      readables.forEach((readable, source) => {
        readable.pipeTo(new WritableStream({
          async write(message) {
            // Wait for room: this is what keeps the feed's socket paused.
            while (controller.desiredSize <= 0) await new Promise((resolve) => waiting.push(resolve));
            controller.enqueue({ source, message });
          },
          close() {
            if (--open === 0) controller.close();
          },
        })).catch((error) => controller.error(error));
      });
    },
    pull() {
      const wake = waiting;
      waiting = [];
      for (const resolve of wake) resolve();
    },
  });
}

const urls = process.argv.slice(2);
const sockets = urls.map((url) => new WebSocketStream(url));
const opened = await Promise.all(sockets.map((wss) => wss.opened));

for await (const { source, message } of merge(opened.map(({ readable }) => readable))) {
  console.log(`[${source}] ${message}`);
}
