// Loaded by the test page in every browser (Chromium native, Chromium with the native
// WebSocketStream removed, Firefox), from the package's built browser entry. Each scenario returns
// plain data for the test to compare: the same scenarios, the same expectations, in every browser.
import { isNativeWebSocketStream, WebSocketError, WebSocketStream } from '/websocketstream.js';

const describe = (error) => ({
  isWebSocketError: error instanceof WebSocketError,
  isDOMException: error instanceof DOMException,
  name: error?.name,
  closeCode: error?.closeCode ?? null,
  reason: error?.reason ?? null,
});
const settled = (promise) => promise.then((value) => ({ value }), (error) => ({ error: describe(error) }));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const bytes = (value) => (typeof value === 'string' ? value : Array.from(new Uint8Array(value.buffer ?? value, value.byteOffset ?? 0, value.byteLength)));

const held = {};

const scenarios = {
  native: () => isNativeWebSocketStream,

  async echo(base) {
    const wss = new WebSocketStream(`${base}/echo`, { protocols: ['chat.v2', 'chat.v1'] });
    const { readable, writable, protocol, extensions } = await wss.opened;
    const writer = writable.getWriter();
    const reader = readable.getReader();
    await writer.write('héllo 😀');
    await writer.write(new Uint8Array([0, 1, 254, 255]));
    await writer.write(new Uint8Array(70_000).fill(9).buffer);
    const received = [];
    for (let i = 0; i < 3; i++) received.push((await reader.read()).value);
    const big = bytes(received[2]);
    wss.close({ closeCode: 4000, reason: 'client bye' });
    return {
      url: wss.url,
      protocol,
      extensions,
      text: received[0],
      binary: bytes(received[1]),
      big: [big.length, big.every((b) => b === 9)],
      closed: await settled(wss.closed),
    };
  },

  async 'server-close'(base) {
    const wss = new WebSocketStream(`${base}/server-close`);
    const { readable } = await wss.opened;
    const end = await readable.getReader().read();
    return { done: end.done, closed: await settled(wss.closed) };
  },

  async refused(base) {
    const wss = new WebSocketStream(`${base}/refuse`);
    return { opened: await settled(wss.opened), closed: await settled(wss.closed) };
  },

  async cancel(base) {
    const wss = new WebSocketStream(`${base}/echo`);
    const { readable } = await wss.opened;
    await readable.cancel(new WebSocketError('done reading', { closeCode: 4002, reason: 'cancelled' }));
    return { closed: await settled(wss.closed) };
  },

  async abort(base) {
    const wss = new WebSocketStream(`${base}/echo`);
    const { writable } = await wss.opened;
    await writable.abort(new WebSocketError('done writing', { closeCode: 4003, reason: 'aborted' }));
    return { closed: await settled(wss.closed) };
  },

  async unclean(base) {
    const wss = new WebSocketStream(`${base}/destroy`);
    const { readable, writable } = await wss.opened;
    const read = readable.getReader().read();
    await writable.getWriter().write('drop me');
    const [readResult, closed] = await Promise.all([settled(read), settled(wss.closed)]);
    let same = false;
    await read.catch((readError) => wss.closed.catch((closedError) => (same = readError === closedError)));
    return { read: readResult, closed, same };
  },

  // Argument checks and URL rules: relative URLs resolve against the page, http maps to ws.
  constructor(base) {
    const attempt = (...args) => {
      try {
        const wss = new WebSocketStream(...args);
        wss.close();
        return wss.url;
      } catch (error) {
        return error.name;
      }
    };
    const path = new URL(base).pathname;
    return {
      relative: attempt(`${path}/echo`),
      http: attempt(`${base.replace('ws:', 'http:')}/echo`),
      ftp: attempt('ftp://127.0.0.1/'),
      fragment: attempt(`${base}/echo#x`),
      protocolsString: attempt(`${base}/echo`, { protocols: 'chat' }),
      protocolsDuplicate: attempt(`${base}/echo`, { protocols: ['a', 'a'] }),
      protocolsInvalid: attempt(`${base}/echo`, { protocols: ['a b'] }),
      noArgument: attempt(),
    };
  },

  // Abandoning the opening handshake: with a signal (its reason) and with close().
  async 'early-close'(base) {
    const controller = new AbortController();
    const aborted = new WebSocketStream(`${base}/echo`, { signal: controller.signal });
    const reason = new Error('changed my mind');
    controller.abort(reason);
    const alreadyAborted = new WebSocketStream(`${base}/echo`, { signal: AbortSignal.abort(reason) });
    const closed = new WebSocketStream(`${base}/echo`);
    closed.close();
    // [opened, closed]: true when rejected with the signal's reason itself, else what rejected.
    const sameReason = async (wss) => Promise.all([wss.opened, wss.closed].map((p) => p.then(() => 'resolved', (e) => e === reason || describe(e))));
    return {
      aborted: await sameReason(aborted),
      alreadyAborted: await sameReason(alreadyAborted),
      closed: { opened: await settled(closed.opened), closed: await settled(closed.closed) },
    };
  },

  // After a clean close: the readable is done, a write rejects with InvalidStateError.
  async 'write-after-close'(base) {
    const wss = new WebSocketStream(`${base}/server-close`);
    const { readable, writable } = await wss.opened;
    await readable.getReader().read();
    await wss.closed;
    const writer = writable.getWriter();
    return { write: await settled(writer.write('late')) };
  },

  async 'close-validation'(base) {
    const wss = new WebSocketStream(`${base}/echo`);
    await wss.opened;
    const errors = [];
    for (const info of [{ closeCode: 1001 }, { reason: 'x'.repeat(124) }]) {
      try {
        wss.close(info);
        errors.push('no error');
      } catch (error) {
        errors.push(error.name);
      }
    }
    wss.close();
    return { errors, closed: await settled(wss.closed) };
  },

  // Writes 64 KiB chunks, pacing on writer.ready, to a server that does not read, until no write
  // completes for 2 s (stalled) or 128 MiB were written (never stalled).
  async 'write-backpressure'(base) {
    const wss = new WebSocketStream(`${base}/hold`);
    const { writable } = await wss.opened;
    const writer = writable.getWriter();
    const chunk = new Uint8Array(64 * 1024).fill(1);
    let written = 0;
    let resolved = 0;
    let stalled = false;
    while (written < 128 * 1024 * 1024) {
      const ready = await Promise.race([writer.ready.then(() => true), sleep(2000).then(() => false)]);
      if (!ready) {
        stalled = true;
        break;
      }
      writer.write(chunk).then(() => (resolved += chunk.byteLength), () => {});
      written += chunk.byteLength;
    }
    held.writer = writer;
    held.wss = wss;
    return { stalled, written, resolved };
  },

  // After the server started reading: the stalled writes complete; a last text ends the stream.
  async 'write-backpressure-finish'() {
    const { writer, wss } = held;
    await writer.ready;
    await writer.write('end');
    await writer.close();
    return { closed: await settled(wss.closed) };
  },
};

window.runScenario = async (name, base) => {
  try {
    return { result: await scenarios[name](base) };
  } catch (error) {
    return { thrown: { ...describe(error), message: String(error?.message) } };
  }
};
window.scenariosReady = true;
