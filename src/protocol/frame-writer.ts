import { Opcode } from './opcodes.js';
import { maskRange, writeRandomMask } from './masking.js';

/**
 * Frame encoding (RFC 6455 5.2). Each function copies the payload into one fresh buffer holding
 * header and payload, so the caller's bytes may change afterwards and the frame is one socket
 * write. With `mask` (client role) the copy is masked with a fresh random key.
 */

export function encodeFrame(opcode: number, payload: Uint8Array, mask: boolean, rsv1 = false): Buffer {
  // RSV1 marks a permessage-deflate compressed message (RFC 7692 6).
  const { frame, headerLength } = allocateFrame(rsv1 ? 0x40 | opcode : opcode, payload.length, mask);
  frame.set(payload, headerLength);
  if (mask) maskPayload(frame, headerLength);
  return frame;
}

/** Encodes a text frame, writing the string's UTF-8 straight into the frame. */
export function encodeTextFrame(text: string, mask: boolean): Buffer {
  const { frame, headerLength } = allocateFrame(Opcode.Text, Buffer.byteLength(text, 'utf8'), mask);
  frame.write(text, headerLength, 'utf8');
  if (mask) maskPayload(frame, headerLength);
  return frame;
}

function allocateFrame(opcode: number, length: number, mask: boolean): { frame: Buffer; headerLength: number } {
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerLength = 2 + lengthBytes + (mask ? 4 : 0);
  // allocUnsafe for large frames is unpooled and aligned, which lets maskRange go word-wise.
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) {
    frame[1] = length;
  } else if (lengthBytes === 2) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (mask) {
    frame[1] |= 0x80;
    writeRandomMask(frame, 2 + lengthBytes);
  }
  return { frame, headerLength };
}

function maskPayload(frame: Buffer, headerLength: number): void {
  maskRange(frame, headerLength, frame.length, frame, headerLength - 4);
}
