// A WebSocket peer run by Bun, Deno or Node on the BUILT package (dist/), driven by
// runtimes.test.ts: one JSON object per stdout line, commands one per stdin line. It stops by
// itself when stdin closes or after 60 s, whatever happens.
//
//   peer.mjs client <scenario> <url>   one client scenario against the test's server
//   peer.mjs server                    serve() and acceptWebSocketStream() on node:http
//   peer.mjs resolve                   what `import 'websocketstream'` gives this runtime
//
// stdin commands: "rss" prints {rss}; "read" drains the held streams and prints what arrived.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { acceptWebSocketStream, serve, WebSocket, WebSocketError, WebSocketStream } from '../../dist/index.js';

const [mode, scenario, url] = process.argv.slice(2);
const held = [];
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const describe = (error) => ({ name: error?.name, closeCode: error?.closeCode ?? null, reason: error?.reason ?? null, message: String(error?.message) });
const lifetime = setTimeout(() => process.exit(3), 60_000);

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  pending += text;
  let newline;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const command = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    void run(command).catch((error) => print({ error: describe(error) }));
  }
});
process.stdin.on('end', () => process.exit(0));

async function run(command) {
  if (command === 'rss') {
    // Collect first where the runtime lets us (Bun; Node and Deno with --expose-gc): less noise.
    globalThis.Bun?.gc(true);
    globalThis.gc?.();
    print({ rss: process.memoryUsage().rss });
  }
  if (command === 'read') {
    for (const { readable, label } of held.splice(0)) {
      // Messages carry a sequence number in their first 4 bytes; count them and check the order.
      let count = 0;
      let inOrder = true;
      let bytes = 0;
      for await (const chunk of readable) {
        const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (view.getUint32(0) !== count) inOrder = false;
        count++;
        bytes += chunk.byteLength;
      }
      print({ drained: label, count, bytes, inOrder });
    }
  }
}

/** Reads `count` messages as [text] or [byte length, first byte, last byte]. */
async function readSome(reader, count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const { value } = await reader.read();
    out.push(typeof value === 'string' ? value : [value.constructor.name, value.byteLength, value[0], value[value.byteLength - 1]]);
  }
  return out;
}

const clientScenarios = {
  async echo() {
    const wss = new WebSocketStream(`${url}/echo`, { protocols: ['chat.v2', 'chat.v1'] });
    const { readable, writable, protocol, extensions } = await wss.opened;
    const writer = writable.getWriter();
    const reader = readable.getReader();
    await writer.write('héllo 😀');
    await writer.write(new Uint8Array([0, 1, 254, 255]));
    await writer.write(new Uint8Array(200_000).fill(7));
    const received = await readSome(reader, 3);
    wss.close({ closeCode: 4000, reason: 'client bye' });
    return { protocol, extensions, received, closed: await wss.closed };
  },
  async tls() {
    // wss: through the runtime's node:tls, trusting the test's self-signed certificate.
    const wss = new WebSocketStream(`${url}/echo`, { ca: readFileSync(process.env.WSS_CA) });
    const { readable, writable } = await wss.opened;
    await writable.getWriter().write('over TLS');
    const { value } = await readable.getReader().read();
    wss.close();
    return { echoed: value, closed: await wss.closed };
  },
  async classic() {
    // The package's event-based WebSocket (not the runtime's own).
    const ws = new WebSocket(`${url}/echo`, ['chat.v1']);
    ws.binaryType = 'arraybuffer';
    const received = [];
    await new Promise((resolve, reject) => {
      ws.onerror = () => reject(new Error('error event'));
      ws.onopen = () => {
        ws.send('classic');
        ws.send(new Uint8Array([1, 2, 3]));
      };
      ws.onmessage = (event) => {
        received.push(typeof event.data === 'string' ? event.data : Array.from(new Uint8Array(event.data)));
        if (received.length === 2) ws.close(4005, 'classic bye');
      };
      ws.onclose = (event) => resolve(received.push({ code: event.code, reason: event.reason, wasClean: event.wasClean }));
    });
    return { protocol: ws.protocol, received };
  },
  async 'server-close'() {
    const wss = new WebSocketStream(`${url}/server-close`);
    const { readable } = await wss.opened;
    const reader = readable.getReader();
    const end = await reader.read();
    return { done: end.done, closed: await wss.closed };
  },
  async refused() {
    const wss = new WebSocketStream(`${url}/refuse`);
    const [opened, closed] = await Promise.allSettled([wss.opened, wss.closed]);
    return { opened: opened.status === 'rejected' ? describe(opened.reason) : 'resolved', closed: closed.status === 'rejected' ? describe(closed.reason) : 'resolved' };
  },
  async cancel() {
    const wss = new WebSocketStream(`${url}/echo`);
    const { readable } = await wss.opened;
    await readable.cancel(new WebSocketError('done reading', { closeCode: 4002, reason: 'cancelled' }));
    return { closed: await wss.closed };
  },
  async abort() {
    const wss = new WebSocketStream(`${url}/echo`);
    const { writable } = await wss.opened;
    await writable.abort(new WebSocketError('done writing', { closeCode: 4003, reason: 'aborted' }));
    return { closed: await wss.closed };
  },
  async 'abort-handshake'() {
    const controller = new AbortController();
    const wss = new WebSocketStream(`${url}/echo`, { signal: controller.signal });
    controller.abort(new Error('changed my mind'));
    const [opened, closed] = await Promise.allSettled([wss.opened, wss.closed]);
    return { opened: describe(opened.reason), closed: describe(closed.reason) };
  },
  async unclean() {
    const wss = new WebSocketStream(`${url}/destroy`);
    const { readable } = await wss.opened;
    const [read, closed] = await Promise.allSettled([readable.getReader().read(), wss.closed]);
    return { read: describe(read.reason), closed: describe(closed.reason), same: read.reason === closed.reason };
  },
  async hold() {
    // Opens and never reads until told to: the server's flood must stall at the server.
    const wss = new WebSocketStream(`${url}/flood`);
    const { readable } = await wss.opened;
    held.push({ readable, label: 'client' });
    return { opened: true };
  },
};

if (mode === 'client') {
  const scenarioFn = clientScenarios[scenario];
  if (!scenarioFn) throw new Error(`unknown scenario ${scenario}`);
  try {
    print({ result: await scenarioFn() });
  } catch (error) {
    print({ error: describe(error) });
  }
  if (scenario !== 'hold') {
    clearTimeout(lifetime);
    process.exit(0);
  }
} else if (mode === 'server') {
  const handler = async (wss, request) => {
    const path = new URL(request.url, 'http://x').pathname;
    try {
      const { readable, writable, protocol } = await wss.opened;
      print({ accepted: path, protocol });
      if (path === '/echo') await readable.pipeTo(writable).catch(() => {});
      else if (path === '/server-close') wss.close({ closeCode: 4001, reason: 'server bye' });
      else if (path === '/hold') held.push({ readable, label: path });
      print({ closed: path, ...(await wss.closed) });
    } catch (error) {
      print({ closed: path, error: describe(error) });
    }
  };
  const options = {
    protocols: ['chat.v1'],
    perMessageDeflate: true,
    keepaliveInterval: 200,
    verify: (request) => !request.url.startsWith('/refuse'),
  };
  const served = await serve({ ...options, host: '127.0.0.1', port: 0 }, handler);
  const http = createServer();
  http.on('upgrade', (request, socket, head) => void handler(acceptWebSocketStream(request, socket, head, options), request));
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  print({ listening: { serve: served.port, accept: http.address().port } });
} else if (mode === 'resolve') {
  // The package by its name, as users import it (a self-reference through package.json "exports"):
  // the runtime must pick the Node build, not the browser entry.
  const byName = await import('websocketstream');
  print({ result: { serve: typeof byName.serve, browserEntry: 'isNativeWebSocketStream' in byName } });
  clearTimeout(lifetime);
  process.exit(0);
} else {
  throw new Error(`usage: peer.mjs client <scenario> <url> | server | resolve`);
}
