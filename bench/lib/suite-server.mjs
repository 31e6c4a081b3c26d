// The peer that every client of bench/suite.mjs talks to, in a process of its own: a minimal
// RFC 6455 server written for speed (pre-built frames, payloads skipped, never the bottleneck),
// plus a raw TCP twin with the same workloads and no WebSocket at all.
//
// WebSocket paths (ws://127.0.0.1:PORT/...):
//   /s2c?size=S&count=N  sends N binary messages of S bytes as fast as TCP takes them, then Close 1000
//   /c2s?size=S&count=N  reads N binary messages (payloads skipped, not unmasked), then sends the
//                        text message "ok N"; answers the client's Close
//   /echo                sends every data message back with its opcode; answers the client's Close
// Raw TCP (tcp://127.0.0.1:RAWPORT): the client's first line says the workload:
//   "s2c S N\n" -> the very same bytes as /s2c, then FIN
//   "c2s S N\n" -> reads the bytes N masked frames of S bytes take, then writes "ok\n"
//   "echo\n"    -> writes back whatever arrives
//
// Started by suite.mjs with fork(); reports { ports } over IPC and exits when the parent goes.
// Every connection is bounded: it is destroyed after CONNECTION_LIMIT_MS whatever happens.

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import net from 'node:net';

const HOST = '127.0.0.1';
const CONNECTION_LIMIT_MS = 120_000;
const CHUNK_TARGET = 256 * 1024;
const CLOSE_1000 = Buffer.from([0x88, 0x02, 0x03, 0xe8]);
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One unmasked binary frame of `size` bytes (payload: a repeating pattern). */
export function serverFrame(size) {
  const header = size < 126 ? 2 : size < 65536 ? 4 : 10;
  const frame = Buffer.alloc(header + size, 0x61);
  frame[0] = 0x82;
  if (size < 126) frame[1] = size;
  else if (size < 65536) { frame[1] = 126; frame.writeUInt16BE(size, 2); }
  else { frame[1] = 127; frame.writeUInt32BE(0, 2); frame.writeUInt32BE(size, 6); }
  return frame;
}

/** Bytes a masked client frame of `size` bytes takes on the wire. */
export function clientFrameLength(size) {
  return (size < 126 ? 2 : size < 65536 ? 4 : 10) + 4 + size;
}

/** A chunk of whole frames, about CHUNK_TARGET bytes (at least one frame). */
function frameChunk(size, frames) {
  const frame = serverFrame(size);
  return Buffer.concat(Array.from({ length: frames }, () => frame));
}

/** Writes `count` frames of `size` bytes, honouring 'drain'; then `tail` (if any). */
function blast(socket, size, count, tail) {
  const frameLength = serverFrame(size).length;
  const perChunk = Math.max(1, Math.floor(CHUNK_TARGET / frameLength));
  const chunk = frameChunk(size, Math.min(perChunk, count));
  let left = count;
  const pump = () => {
    while (left > 0 && !socket.destroyed) {
      const n = Math.min(perChunk, left);
      left -= n;
      const data = n * frameLength === chunk.length ? chunk : chunk.subarray(0, n * frameLength);
      if (!socket.write(data)) {
        socket.once('drain', pump);
        return;
      }
    }
    if (!socket.destroyed) tail(socket);
  };
  pump();
}

/**
 * Incremental parser of client frames: `onFrame(opcode, payload|null)`, payload null when
 * `wantPayload(opcode)` said no (its bytes are skipped without being unmasked or copied).
 */
function frameParser(wantPayload, onFrame) {
  let pending = null; // header bytes not complete yet
  let skip = 0;
  let collect = null; // { opcode, mask, parts, left }
  return (chunk) => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = null;
    let i = 0;
    while (i < buf.length) {
      if (skip > 0) {
        const n = Math.min(skip, buf.length - i);
        skip -= n;
        i += n;
        if (skip === 0) onFrame(collect.opcode, null);
        continue;
      }
      if (collect !== null && collect.left > 0) {
        const n = Math.min(collect.left, buf.length - i);
        collect.parts.push(buf.subarray(i, i + n));
        collect.left -= n;
        i += n;
        if (collect.left === 0) {
          const payload = Buffer.concat(collect.parts);
          for (let k = 0; k < payload.length; k++) payload[k] ^= collect.mask[k & 3];
          const { opcode } = collect;
          collect = null;
          onFrame(opcode, payload);
        }
        continue;
      }
      if (buf.length - i < 2) { pending = buf.subarray(i); return; }
      const opcode = buf[i] & 0x0f;
      let length = buf[i + 1] & 0x7f;
      let header = 2;
      if (length === 126) header = 4;
      else if (length === 127) header = 10;
      header += 4; // clients always mask
      if (buf.length - i < header) { pending = Buffer.from(buf.subarray(i)); return; }
      if (length === 126) length = buf.readUInt16BE(i + 2);
      else if (length === 127) length = buf.readUInt32BE(i + 6);
      const mask = buf.subarray(i + header - 4, i + header);
      i += header;
      if (wantPayload(opcode)) {
        collect = { opcode, mask: Buffer.from(mask), parts: [], left: length };
        if (length === 0) { collect = null; onFrame(opcode, Buffer.alloc(0)); }
      } else if (length === 0) {
        onFrame(opcode, null);
      } else {
        collect = { opcode };
        skip = length;
      }
    }
  };
}

function encodeServerFrame(opcode, payload) {
  const size = payload.length;
  const header = size < 126 ? 2 : size < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + size);
  frame[0] = 0x80 | opcode;
  if (size < 126) frame[1] = size;
  else if (size < 65536) { frame[1] = 126; frame.writeUInt16BE(size, 2); }
  else { frame[1] = 127; frame.writeUInt32BE(0, 2); frame.writeUInt32BE(size, 6); }
  payload.copy(frame, header);
  return frame;
}

function bound(socket) {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  const timer = setTimeout(() => socket.destroy(), CONNECTION_LIMIT_MS);
  timer.unref();
  socket.on('close', () => clearTimeout(timer));
}

function onUpgrade(request, socket, head) {
  bound(socket);
  const url = new URL(request.url, 'http://x');
  const accept = createHash('sha1').update(request.headers['sec-websocket-key'] + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const size = Number(url.searchParams.get('size') ?? 0);
  const count = Number(url.searchParams.get('count') ?? 0);
  let closeSent = false;
  const answerClose = () => {
    if (!closeSent) { closeSent = true; socket.write(CLOSE_1000); }
    socket.end();
  };
  let parse;
  if (url.pathname === '/s2c') {
    // Whatever the client sends after our Close (its own Close) ends the connection.
    parse = frameParser(() => false, (opcode) => { if (opcode === 0x8 && closeSent) socket.end(); });
    blast(socket, size, count, (s) => { closeSent = true; s.write(CLOSE_1000); });
  } else if (url.pathname === '/c2s') {
    let received = 0;
    parse = frameParser(() => false, (opcode) => {
      if (opcode === 0x2 || opcode === 0x1) {
        if (++received === count) socket.write(encodeServerFrame(0x1, Buffer.from(`ok ${received}`)));
      } else if (opcode === 0x8) answerClose();
    });
  } else if (url.pathname === '/echo') {
    parse = frameParser((opcode) => opcode !== 0x8, (opcode, payload) => {
      if (opcode === 0x1 || opcode === 0x2) socket.write(encodeServerFrame(opcode, payload));
      else if (opcode === 0x9) socket.write(encodeServerFrame(0xa, payload));
      else if (opcode === 0x8) answerClose();
    });
  } else {
    socket.destroy();
    return;
  }
  if (head.length > 0) parse(head);
  socket.on('data', parse);
}

function onRawConnection(socket) {
  bound(socket);
  let line = '';
  const onFirst = (chunk) => {
    const nl = chunk.indexOf(0x0a);
    if (nl < 0) { line += chunk.toString('latin1'); return; }
    line += chunk.toString('latin1', 0, nl);
    socket.off('data', onFirst);
    const rest = chunk.subarray(nl + 1);
    const [kind, sizeText, countText] = line.trim().split(' ');
    const size = Number(sizeText);
    const count = Number(countText);
    if (kind === 's2c') {
      blast(socket, size, count, (s) => s.end());
      socket.resume();
    } else if (kind === 'c2s') {
      const total = clientFrameLength(size) * count;
      let received = 0;
      const onData = (data) => {
        received += data.length;
        if (received >= total) { socket.off('data', onData); socket.write('ok\n'); socket.end(); }
      };
      socket.on('data', onData);
      if (rest.length > 0) onData(rest);
    } else if (kind === 'echo') {
      socket.on('data', (data) => socket.write(data));
      socket.on('end', () => socket.end());
      if (rest.length > 0) socket.write(rest);
    } else {
      socket.destroy();
    }
  };
  socket.on('data', onFirst);
}

if (process.send) {
  process.on('disconnect', () => process.exit(0));
  const http = createServer((_req, res) => { res.statusCode = 404; res.end(); });
  http.on('upgrade', onUpgrade);
  http.listen(0, HOST);
  const raw = net.createServer(onRawConnection);
  raw.listen(0, HOST);
  await Promise.all([once(http, 'listening'), once(raw, 'listening')]);
  process.send({ type: 'listening', wsPort: http.address().port, rawPort: raw.address().port });
}
