// Run by test/interop/server-node24.test.ts under Node 24: drives Node's built-in WebSocket
// (undici's) against our server for one scenario and prints the outcome as one line of JSON.
// Usage: node server-node24-client.mjs <ws-url> <scenario>. Exits by itself within 10 s.
const [url, scenario] = process.argv.slice(2);
const deadline = setTimeout(() => finish({ error: `scenario ${scenario} timed out` }), 10_000);

function finish(result) {
  clearTimeout(deadline);
  process.stdout.write(`${JSON.stringify({ node: process.version, ...result })}\n`);
  process.exit(0);
}

function closeEvent(ws) {
  return new Promise((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean })));
}

function nextMessage(ws) {
  return new Promise((resolve) => ws.addEventListener('message', (e) => resolve(e.data), { once: true }));
}

const scenarios = {
  async echo() {
    const ws = new WebSocket(`${url}/echo`);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('error before open'));
    });
    ws.send('hello from node 24 ✓');
    const text = await nextMessage(ws);
    ws.send(new Uint8Array([1, 2, 3, 255]));
    const binary = Array.from(new Uint8Array(await nextMessage(ws)));
    const big = new Uint8Array(1_000_000).fill(7);
    ws.send(big);
    const echoed = new Uint8Array(await nextMessage(ws));
    const closed = closeEvent(ws);
    ws.close(1000);
    return { text, binary, bigLength: echoed.length, bigOk: echoed.every((b) => b === 7), close: await closed };
  },
  async clientCloses() {
    const ws = new WebSocket(`${url}/client-closes`);
    await new Promise((resolve) => (ws.onopen = resolve));
    const closed = closeEvent(ws);
    ws.close(4010, 'node 24 says bye');
    return { close: await closed };
  },
  async serverCloses() {
    const ws = new WebSocket(`${url}/server-closes`);
    return { close: await closeEvent(ws) };
  },
  async protocols() {
    const ws = new WebSocket(`${url}/protocols`, ['x-unknown', 'graphql-ws', 'chat']);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('error before open'));
    });
    const protocol = ws.protocol;
    ws.close();
    return { protocol };
  },
  async refused() {
    const ws = new WebSocket(`${url}/refused`);
    let sawError = false;
    ws.onerror = () => (sawError = true);
    const close = await closeEvent(ws);
    return { close: { ...close, sawError } };
  },
};

const run = scenarios[scenario];
if (run === undefined) finish({ error: `unknown scenario ${scenario}` });
else run().then(finish, (error) => finish({ error: String(error?.message ?? error) }));
