// The sending side of bench/receive.mjs: a bare TCP server that answers the opening handshake and
// then writes pre-encoded frames in large corked batches, so that it can send several million
// small messages a second and the bench measures the client, not the server. Also the raw TCP
// reader that measures this server's own ceiling (frames counted, no WebSocket client at all).

import { createHash } from 'node:crypto';
import { connect, createServer } from 'node:net';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Bytes of frames per socket write: big enough that a 16 B message costs the server almost nothing. */
const BLOCK_BYTES = 1 << 20;
/** Blocks written per corked batch before giving the event loop back. */
const BLOCKS_PER_BATCH = 8;
const CLOSE_FRAME = Buffer.from([0x88, 2, 0x03, 0xe8]); // Close 1000, unmasked

/** The request path a client uses to ask for `count` messages of `size` bytes of one type. */
export const floodPath = ({ type, size, count }) => `/${type}/${size}/${count}`;

/** One unmasked, unfragmented frame header for a payload of `length` bytes. */
function frameHeader(opcode, length) {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 65536) return Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff]);
  const header = Buffer.alloc(10);
  header[0] = 0x80 | opcode;
  header[1] = 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

/** A block of identical frames (text: ASCII letters, binary: 0xa5 bytes), built once per kind. */
function buildBlock(type, size) {
  const payload = type === 'text' ? Buffer.alloc(size, 'abcdefghijklmnopqrstuvwxyz') : Buffer.alloc(size, 0xa5);
  const frame = Buffer.concat([frameHeader(type === 'text' ? 0x1 : 0x2, size), payload]);
  const framesPerBlock = Math.max(1, Math.floor(BLOCK_BYTES / frame.length));
  return { frameBytes: frame.length, framesPerBlock, block: Buffer.concat(Array(framesPerBlock).fill(frame)) };
}

/**
 * Starts the server on 127.0.0.1, port 0. Every connection gets what its path asks for
 * (floodPath), then a Close frame; the server ends the TCP connection after the client's Close.
 */
export function startFloodServer() {
  const blocks = new Map();
  const blockFor = (type, size) => {
    const key = `${type}/${size}`;
    if (!blocks.has(key)) blocks.set(key, buildBlock(type, size));
    return blocks.get(key);
  };
  const server = createServer((socket) => {
    socket.setNoDelay(true); // the head and the first frames must not wait for a delayed ACK
    socket.on('error', () => {}); // a client that fails resets; the parent reports it
    let head = '';
    const onHead = (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onHead);
      // The client sends nothing but its Close, after ours: the server then closes the TCP
      // connection first, as RFC 6455 7.1.1 asks (some clients wait for it).
      socket.on('data', () => socket.end());
      socket.on('end', () => socket.end());
      const match = /^GET \/(text|binary)\/(\d+)\/(\d+) /.exec(head);
      if (!match) return socket.destroy();
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      flood(socket, blockFor(match[1], Number(match[2])), Number(match[3]));
    };
    socket.on('data', onHead);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Writes `count` frames from `block` in corked batches, pausing on backpressure, then Close. */
function flood(socket, { block, frameBytes, framesPerBlock }, count) {
  let left = count;
  const pump = () => {
    socket.cork();
    let writable = true;
    for (let i = 0; i < BLOCKS_PER_BATCH && left > 0 && writable; i++) {
      const frames = Math.min(left, framesPerBlock);
      left -= frames;
      writable = socket.write(frames === framesPerBlock ? block : block.subarray(0, frames * frameBytes));
    }
    if (left === 0) socket.write(CLOSE_FRAME);
    socket.uncork();
    if (left === 0 || socket.destroyed) return;
    if (writable) setImmediate(pump);
    else socket.once('drain', pump);
  };
  pump();
}

/**
 * The server's ceiling: a TCP client that sends the handshake, skips the response head and counts
 * frames up to the Close by reading their headers only. Resolves with the data frames counted.
 */
export function rawFrameReader(port, path, onOpen) {
  return new Promise((resolve, reject) => {
    let inHead = true;
    let head = '';
    let skip = 0; // payload bytes of the current frame still to pass over
    let carry = null; // a frame header split across two reads (copied: the read buffer is reused)
    let count = 0;
    let bytes = 0;
    let done = false;
    const finish = () => {
      done = true;
      socket.end(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8])); // masked Close 1000
      resolve({ count, bytes });
    };
    const onData = (nread, readBuffer) => {
      if (done) return;
      let chunk = readBuffer.subarray(0, nread);
      let i = 0;
      if (inHead) {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        inHead = false;
        onOpen();
        i = chunk.length - (head.length - end - 4);
      }
      if (carry) {
        chunk = Buffer.concat([carry, chunk.subarray(i)]);
        carry = null;
        i = 0;
      }
      const length = chunk.length;
      while (i < length) {
        if (skip > 0) {
          const take = Math.min(skip, length - i);
          i += take;
          skip -= take;
          continue;
        }
        if (length - i < 2) break;
        const code = chunk[i + 1] & 0x7f;
        const headerBytes = code === 126 ? 4 : code === 127 ? 10 : 2;
        if (length - i < headerBytes) break;
        const payload = code === 126 ? chunk.readUInt16BE(i + 2) : code === 127 ? Number(chunk.readBigUInt64BE(i + 2)) : code;
        if ((chunk[i] & 0x0f) === 0x8) return finish();
        count++;
        bytes += payload;
        i += headerBytes;
        skip = payload;
      }
      if (i < length) carry = Buffer.from(chunk.subarray(i));
    };
    // One reused 1 MiB read buffer: no allocation per read, few reads.
    const socket = connect({ port, host: '127.0.0.1', onread: { buffer: Buffer.alloc(1 << 20), callback: onData } });
    socket.on('error', reject);
    socket.on('close', () => {
      if (!done) reject(new Error(`raw-tcp: connection closed after ${count} frames, before the Close`));
    });
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
  });
}
