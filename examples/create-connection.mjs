// createConnection: reach a URL's host at an address of our choosing (here: the one on the
// command line). The server still sees the URL's Host and path.
// Usage: node examples/create-connection.mjs ws://127.0.0.1:8080
import { connect } from 'node:net';
import { WebSocketStream } from 'websocketstream';

const address = new URL(process.argv[2] ?? 'ws://127.0.0.1:8080');

const wss = new WebSocketStream('ws://chat.internal/room', {
  createConnection: () => connect(Number(address.port), address.hostname),
});
const { readable, writable } = await wss.opened;
await writable.getWriter().write('hello through my own socket');
const { value } = await readable.getReader().read();
console.log(`echo: ${value}`);
wss.close();
await wss.closed;
