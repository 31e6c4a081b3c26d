// Run by test/interop/websocket-differential.test.ts, once with our WebSocket (Node 20, from a
// bundle of src/) and once with Node 24's built-in one: plays one scripted scenario and prints
// the trace of what the application saw, as one line of JSON.
//
// Usage: node websocket-scenarios.mjs <ours-bundle.js | global> <scenario> <base-urls-json>
// Exits by itself: when the scenario ends (its close event), or after TIMEOUT_MS with a
// { type: 'timeout' } entry at the end of the trace.
const [implementation, scenario, urlsJson] = process.argv.slice(2);
const urls = JSON.parse(urlsJson);
const WebSocket = implementation === 'global'
  ? globalThis.WebSocket
  : (await import(implementation)).WebSocket;

const TIMEOUT_MS = 8_000;
const trace = [];
const deadline = setTimeout(() => finish({ type: 'timeout' }), TIMEOUT_MS);

function finish(last) {
  clearTimeout(deadline);
  if (last) trace.push(last);
  process.stdout.write(`${JSON.stringify({ node: process.version, trace })}\n`);
  process.exit(0);
}

/** What the application can see of `data`: its type, and its content in a comparable form. */
function describeData(data) {
  if (typeof data === 'string') {
    return { dataType: 'string', text: data.length > 40 ? `${data.slice(0, 20)}…(${data.length})` : data, firstCodeUnit: data.charCodeAt(0) };
  }
  if (data instanceof ArrayBuffer) return { dataType: 'ArrayBuffer', bytes: [...new Uint8Array(data)].slice(0, 16), size: data.byteLength };
  if (data instanceof Blob) return { dataType: 'Blob', size: data.size };
  return { dataType: Object.prototype.toString.call(data) };
}

/** Records every event as it is dispatched; `close` ends the scenario unless `keepOpen`. */
function record(ws, { onClose = () => finish() } = {}) {
  for (const type of ['open', 'message', 'error', 'close']) {
    ws.addEventListener(type, (event) => {
      const entry = { type, readyState: ws.readyState, bufferedAmount: ws.bufferedAmount };
      if (type === 'open') Object.assign(entry, { protocol: ws.protocol, extensions: ws.extensions });
      if (type === 'message') Object.assign(entry, describeData(event.data), { eventClass: event.constructor.name, origin: event.origin });
      if (type === 'error') entry.eventClass = event.constructor.name;
      if (type === 'close') {
        Object.assign(entry, { code: event.code, reason: event.reason, wasClean: event.wasClean, eventClass: event.constructor.name });
      }
      trace.push(entry);
      // Finish after the close event's other listeners (a scenario may add some).
      if (type === 'close') queueMicrotask(onClose);
    });
  }
}

/** Runs `fn` and records the exception it throws (or that it threw none). */
function attempt(what, fn) {
  try {
    fn();
    trace.push({ type: 'call', what, threw: null });
  } catch (error) {
    trace.push({ type: 'call', what, threw: error?.name ?? String(error) });
  }
}

function note(what, value) {
  trace.push({ type: 'note', what, value });
}

function messages(ws, count, then) {
  let seen = 0;
  ws.addEventListener('message', () => {
    if (++seen === count) then();
  });
}

const scenarios = {
  // Subprotocols offered as an array; the server picks the last one.
  'open-protocols'() {
    const ws = new WebSocket(`${urls.ws}/protocols`, ['chat', 'superchat']);
    note('url', ws.url);
    note('readyState at construction', ws.readyState);
    record(ws);
    ws.addEventListener('open', () => ws.close(1000));
  },

  // A single subprotocol given as a string.
  'open-protocol-string'() {
    const ws = new WebSocket(`${urls.ws}/protocols`, 'chat');
    record(ws);
    ws.addEventListener('open', () => ws.close());
  },

  // Every data type send() takes, echoed by the server, Blob first to check the order.
  'echo-every-type'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.addEventListener('open', () => {
      const bytes = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      ws.send(new Blob([new Uint8Array([0xb1, 0xb2])]));
      ws.send('text h\u00e9llo \u{1f600}');
      ws.send(bytes.buffer);
      ws.send(bytes.subarray(2, 5));
      ws.send(new DataView(bytes.buffer, 6, 4));
      ws.send(new Blob(['blob text']));
      ws.send('');
      ws.send(new Uint8Array(0));
      ws.send('x'.repeat(70_000)); // longer than 64 KiB: a 64-bit length, several socket reads
      messages(ws, 9, () => {
        ws.binaryType = 'arraybuffer';
        ws.send(new Uint8Array([0xab, 0xcd]));
        ws.send(new Blob([new Uint8Array([0xef])]));
        messages(ws, 2, () => ws.close(4000, 'done'));
      });
    });
  },

  // binaryType is read when each message event is dispatched.
  'binarytype-switch'() {
    const ws = new WebSocket(`${urls.ws}/three-binary`);
    record(ws);
    ws.addEventListener('message', () => {
      ws.binaryType = ws.binaryType === 'blob' ? 'arraybuffer' : 'blob';
    });
    messages(ws, 3, () => ws.close());
  },

  // bufferedAmount: grows by the bytes of each send, falls back to 0, only grows once closing.
  'buffered-amount'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.addEventListener('open', () => {
      ws.send('h\u00e9llo'); // 6 bytes of UTF-8
      note('after text', ws.bufferedAmount);
      ws.send(new Uint8Array(10));
      note('after 10 bytes', ws.bufferedAmount);
      ws.send(new Blob(['12345']));
      note('after a 5-byte Blob', ws.bufferedAmount);
      messages(ws, 3, () => {
        note('after the echoes', ws.bufferedAmount);
        ws.close();
        note('readyState after close()', ws.readyState);
      });
    });
  },

  // send() once closing has started: no exception, nothing sent, bufferedAmount grows.
  'send-after-close'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.addEventListener('open', () => {
      ws.close();
      attempt('send while CLOSING', () => ws.send('after'));
      note('bufferedAmount while CLOSING', ws.bufferedAmount);
    });
    ws.addEventListener('close', () => {
      attempt('send while CLOSED', () => ws.send(new Uint8Array(3)));
      note('bufferedAmount while CLOSED', ws.bufferedAmount);
    });
  },

  // Text messages that start with U+FEFF, one shorter and one longer than 256 bytes.
  'text-with-bom'() {
    const ws = new WebSocket(`${urls.ws}/bom`);
    record(ws);
    messages(ws, 2, () => ws.close());
  },

  'client-close-code-reason'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.addEventListener('open', () => {
      ws.close(4001, 'client reason \u00e9');
      note('readyState after close()', ws.readyState);
      attempt('close() again', () => ws.close(4002));
    });
  },

  'client-close-no-code'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.addEventListener('open', () => ws.close());
  },

  'client-close-reason-only'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.addEventListener('open', () => ws.close(undefined, 'reason only'));
  },

  'close-validation'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.addEventListener('open', () => {
      attempt('close(1001)', () => ws.close(1001));
      attempt('close(2999)', () => ws.close(2999));
      attempt('close(5000)', () => ws.close(5000));
      attempt('close(1000, 124 bytes)', () => ws.close(1000, 'x'.repeat(124)));
      attempt('close(1000, 62 two-byte characters)', () => ws.close(1000, '\u00e9'.repeat(62)));
      note('readyState after the refused calls', ws.readyState);
      attempt('close(3999.6)', () => ws.close(3999.6));
    });
  },

  'server-close-code-reason'() {
    const ws = new WebSocket(`${urls.ws}/server-close`);
    record(ws);
  },

  'server-close-no-code'() {
    const ws = new WebSocket(`${urls.ws}/server-close-no-code`);
    record(ws);
  },

  // Messages that arrive after close() are not dispatched ("If ready state is not OPEN, return").
  'messages-after-close'() {
    const ws = new WebSocket(`${urls.ws}/flood-on-go`);
    record(ws);
    ws.addEventListener('open', () => ws.send('go'));
    ws.addEventListener('message', () => ws.close());
  },

  'send-while-connecting'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    attempt('send while CONNECTING', () => ws.send('too early'));
    note('bufferedAmount', ws.bufferedAmount);
    record(ws);
    ws.addEventListener('open', () => ws.close());
  },

  'close-while-connecting'() {
    const ws = new WebSocket(`${urls.ws}/echo`);
    record(ws);
    ws.close();
    note('readyState after close()', ws.readyState);
  },

  'refused-handshake'() {
    const ws = new WebSocket(`${urls.ws}/refuse`);
    record(ws);
  },

  'nothing-listening'() {
    const ws = new WebSocket(urls.closed);
    record(ws);
  },

  'subprotocol-not-offered'() {
    const ws = new WebSocket(`${urls.raw}/bad-protocol`, ['chat']);
    record(ws);
  },

  'drop-during-handshake'() {
    const ws = new WebSocket(`${urls.raw}/drop-handshake`);
    record(ws);
  },

  // The server sends a message, then ends TCP without a Close frame.
  'drop-after-open'() {
    const ws = new WebSocket(`${urls.raw}/drop-fin`);
    record(ws);
  },

  // Same, with a TCP reset.
  'reset-after-open'() {
    const ws = new WebSocket(`${urls.raw}/drop-rst`);
    record(ws);
  },

  // The server's Close (4003) arrives while our 16 MiB message is still being sent, then TCP is
  // reset: an unclean end, but the peer's Close was read, so its code is the close code.
  'close-then-reset-while-sending'() {
    const ws = new WebSocket(`${urls.raw}/close-then-rst`);
    ws.binaryType = 'arraybuffer';
    record(ws);
    ws.addEventListener('open', () => ws.send(new Uint8Array(16 * 1024 * 1024)));
  },

  // The server's Close (4004) then a TCP reset, with nothing of ours in flight.
  'close-then-reset'() {
    const ws = new WebSocket(`${urls.raw}/close-then-rst-idle`);
    record(ws);
  },

  'invalid-utf8'() {
    const ws = new WebSocket(`${urls.raw}/invalid-utf8`);
    record(ws);
  },
};

const run = scenarios[scenario];
if (run === undefined) finish({ type: 'unknown scenario', scenario });
else run();
