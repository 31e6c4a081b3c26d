// The receiving side of bench/receive.mjs: every client (and in-process floor) it compares. Each
// peer is `async (run) => ({ count, bytes })`; it calls `run.opened()` once the connection is open
// (the clock and the CPU meter start there) and returns after the server's Close, having counted
// every message. `run` is { url, port, path, type, size, count, opened }.

import { rawFrameReader } from './receive-server.mjs';

/** Bytes of a message as a standard WebSocket hands it over (string, ArrayBuffer, view, Blob). */
function sizeOf(data) {
  if (typeof data === 'string') return data.length;
  return data.byteLength ?? data.size;
}

/** Counts the chunks of a ReadableStream with a read() loop. */
async function readLoop(readable) {
  const reader = readable.getReader();
  let count = 0;
  let bytes = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { count, bytes };
    count++;
    bytes += sizeOf(value);
  }
}

/** A standard event-based WebSocket (ours, undici's, Node's global), `arraybuffer` for binary. */
function classic(WebSocket, run) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(run.url);
    ws.binaryType = 'arraybuffer';
    let count = 0;
    let bytes = 0;
    ws.onopen = run.opened;
    ws.onmessage = (event) => {
      count++;
      bytes += sizeOf(event.data);
    };
    ws.onerror = () => reject(new Error('WebSocket error'));
    ws.onclose = () => resolve({ count, bytes });
  });
}

/** A standard WebSocketStream (ours or undici's): open, then a read() loop to the end. */
async function streamReadLoop(WebSocketStream, run) {
  const wss = new WebSocketStream(run.url);
  const { readable } = await wss.opened;
  run.opened();
  return readLoop(readable);
}

/**
 * The reference for "a stream on top of ws": `ws` messages enqueued in a ReadableStream whose
 * pull() resumes the socket and whose full queue pauses it, delivering what a WebSocketStream
 * does (text as a string, binary as a Uint8Array owning its bytes).
 */
async function wsReadableStream(run) {
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(run.url, { perMessageDeflate: false });
  ws.binaryType = 'arraybuffer'; // an ArrayBuffer of its own per message
  const readable = new ReadableStream({
    start(controller) {
      ws.on('message', (data, isBinary) => {
        controller.enqueue(isBinary ? new Uint8Array(data) : data.toString());
        if (controller.desiredSize <= 0) ws.pause();
      });
      ws.on('close', () => controller.close());
      ws.on('error', (error) => controller.error(error));
    },
    pull() {
      ws.resume();
    },
  }, { highWaterMark: 1 });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  run.opened();
  return readLoop(readable);
}

/**
 * The runtime's floor: a ReadableStream (highWaterMark 1) read with a read() loop, no socket.
 * `owned`: each chunk is a fresh ArrayBuffer filled by Buffer#copy, as a WebSocket client that
 * never exposes its read buffer must deliver; otherwise the same view is enqueued every time.
 */
function readableFloor(owned) {
  return async (run) => {
    const source = Buffer.alloc(run.size, 0xa5);
    const shared = new Uint8Array(run.size);
    let left = run.count;
    const readable = new ReadableStream({
      pull(controller) {
        if (left-- === 0) return controller.close();
        if (!owned) return controller.enqueue(shared);
        const chunk = new Uint8Array(new ArrayBuffer(run.size));
        source.copy(chunk);
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 1 });
    run.opened();
    return readLoop(readable);
  };
}

export const PEERS = {
  /** The server's ceiling: frame headers counted on a raw TCP socket. */
  'raw-tcp': (run) => rawFrameReader(run.port, run.path, run.opened),
  /** ws 8, on('message'): a Buffer viewing the socket chunk, text not decoded (no copy, no decode). */
  ws: async (run) => {
    const { WebSocket } = await import('ws');
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(run.url, { perMessageDeflate: false });
      let count = 0;
      let bytes = 0;
      ws.on('open', run.opened);
      ws.on('message', (data) => {
        count++;
        bytes += data.byteLength;
      });
      ws.on('error', reject);
      ws.on('close', () => resolve({ count, bytes }));
    });
  },
  'ws+ReadableStream': wsReadableStream,
  'undici-wss': async (run) => streamReadLoop((await import('undici')).WebSocketStream, run),
  'undici-ws': async (run) => classic((await import('undici')).WebSocket, run),
  /** Node's global WebSocket (undici inside Node; unflagged from Node 22). */
  'node-ws': (run) => classic(globalThis.WebSocket, run),
  'ours-read': async (run) => streamReadLoop((await import('../../dist/index.js')).WebSocketStream, run),
  /** The same, in a process started with the flags of PEER_NODE_FLAGS (see docs/performance.md#tuning-many-mid-size-binary-messages). */
  'ours-read-tuned': async (run) => streamReadLoop((await import('../../dist/index.js')).WebSocketStream, run),
  'ours-for-await': async (run) => {
    const { WebSocketStream } = await import('../../dist/index.js');
    const wss = new WebSocketStream(run.url);
    const { readable } = await wss.opened;
    run.opened();
    let count = 0;
    let bytes = 0;
    for await (const chunk of readable) {
      count++;
      bytes += sizeOf(chunk);
    }
    return { count, bytes };
  },
  'ours-ws': async (run) => classic((await import('../../dist/index.js')).WebSocket, run),
  'rs-floor': readableFloor(false),
  'rs-floor-owned': readableFloor(true),
  /** rs-floor-owned with the flag of ours-read-tuned: what the owned buffers cost without it. */
  'rs-floor-owned-tuned': readableFloor(true),
};

/**
 * Node flags of a peer's process. "tuned": V8 frees dead ArrayBuffers on the main thread, which
 * takes the malloc lock contention out of every message's own ArrayBuffer.
 */
export const PEER_NODE_FLAGS = {
  'ours-read-tuned': ['--no-concurrent-array-buffer-sweeping'],
  'rs-floor-owned-tuned': ['--no-concurrent-array-buffer-sweeping'],
};

/** Peers that do not depend on the message type (they run once per size, under type "-"). */
export const TYPELESS = new Set(['raw-tcp', 'rs-floor', 'rs-floor-owned', 'rs-floor-owned-tuned']);

/** Whether a peer can run on this runtime. */
export const available = (peer) => peer !== 'node-ws' || typeof globalThis.WebSocket === 'function';
