import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import { ProtocolError } from '../protocol/protocol-error.js';

/**
 * The zlib side of permessage-deflate (RFC 7692 7.2): one raw-deflate context per direction, used
 * one message at a time. zlib runs on libuv's thread pool, so both directions are asynchronous;
 * the Connection decides when they may run (inflate only while the readable has demand).
 * Memory (how long a context lives): see docs/memory.md#compression-contexts
 */

/** Every message ends with an empty stored block whose last 4 bytes the sender removes (7.2.1). */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A zlib job still running when close() is called is rejected with this. */
function closedError(): Error {
  return new Error('The compression context was closed (the connection ended)');
}

export interface InflaterOptions {
  /** The peer's window: server_max_window_bits for a client, client_max_window_bits for a server. */
  windowBits: number;
  /** The peer resets its compressor after each message, so we may forget between messages too. */
  noContextTakeover: boolean;
  /** Largest inflated message; more fails with 1009 as soon as zlib produces the byte past it. */
  maxPayload: number;
}

export class MessageInflater {
  private zlib: InflateRaw | null = null;
  private abort: ((error: Error) => void) | null = null;

  constructor(private readonly options: InflaterOptions) {}

  /**
   * Inflates one message (its fragments, in order). Resolves with a fresh, unpooled buffer of the
   * exact length; rejects with a ProtocolError: 1009 past maxPayload (inflating stops there, so a
   * bomb costs at most maxPayload plus one zlib output chunk), 1007 for data zlib rejects.
   */
  inflate(fragments: readonly Buffer[]): Promise<Buffer> {
    if (this.abort !== null) return Promise.reject(new Error('One message at a time'));
    return new Promise((resolve, reject) => {
      // zlib's raw inflate rejects windowBits 8 streams that zlib itself made with 9 (see
      // MIN_OWN_WINDOW_BITS): a window of at least 9 accepts both.
      const zlib = this.zlib ??= createInflateRaw({ windowBits: Math.max(9, this.options.windowBits) });
      const chunks: Buffer[] = [];
      let total = 0;
      const finish = (error: Error | null): void => {
        if (this.abort === null) return;
        this.abort = null;
        zlib.off('data', onData);
        zlib.off('error', onError);
        if (error !== null) {
          this.close(); // a context that failed mid-message is useless: free it now
          reject(error);
          return;
        }
        if (this.options.noContextTakeover) this.close();
        const whole = Buffer.allocUnsafeSlow(total); // unpooled: the message owns its ArrayBuffer
        let offset = 0;
        for (const chunk of chunks) {
          chunk.copy(whole, offset);
          offset += chunk.length;
        }
        resolve(whole);
      };
      const onData = (chunk: Buffer): void => {
        total += chunk.length;
        if (total > this.options.maxPayload) {
          finish(new ProtocolError(
            'ERR_WS_MESSAGE_TOO_BIG',
            `Message larger than the ${this.options.maxPayload}-byte limit (maxPayload) once inflated`,
          ));
          return;
        }
        chunks.push(chunk);
      };
      // 1007: the frames were well formed, but the payload is not what RSV1 said it is (deflate
      // data). 1002 would blame the framing; ws and Chrome also use 1007 here.
      const onError = (error: Error): void => {
        finish(new ProtocolError('ERR_WS_INVALID_COMPRESSED_DATA', `Invalid compressed data: ${error.message}`));
      };
      this.abort = finish;
      zlib.on('data', onData);
      zlib.on('error', onError);
      for (const fragment of fragments) zlib.write(fragment);
      zlib.write(TAIL);
      zlib.flush(constants.Z_SYNC_FLUSH, () => finish(null));
    });
  }

  /** Frees the zlib context; a message being inflated is rejected. */
  close(): void {
    this.abort?.(closedError());
    this.zlib?.close();
    this.zlib = null;
  }
}

export interface DeflaterOptions {
  /** Our window: client_max_window_bits for a client, server_max_window_bits for a server. */
  windowBits: number;
  /** We agreed to reset our compressor after each message. */
  noContextTakeover: boolean;
  level: number;
  memLevel: number;
}

export class MessageDeflater {
  private zlib: DeflateRaw | null = null;
  /** Jobs run one after another: a zlib stream's output is one sequence. */
  private tail: Promise<unknown> = Promise.resolve();
  private abort: ((error: Error) => void) | null = null;
  private closed = false;

  constructor(private readonly options: DeflaterOptions) {}

  /** Compresses one message; resolves with the payload to send with RSV1 (tail removed). */
  deflate(data: Uint8Array): Promise<Buffer> {
    const job = this.tail.then(() => this.run(data));
    this.tail = job.catch(() => {});
    return job;
  }

  private run(data: Uint8Array): Promise<Buffer> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const zlib = this.zlib ??= createDeflateRaw({
        windowBits: this.options.windowBits,
        level: this.options.level,
        memLevel: this.options.memLevel,
      });
      const chunks: Buffer[] = [];
      let total = 0;
      const finish = (error: Error | null): void => {
        if (this.abort === null) return;
        this.abort = null;
        zlib.off('data', onData);
        zlib.off('error', finish);
        if (error !== null) {
          this.dispose();
          reject(error);
          return;
        }
        if (this.options.noContextTakeover) this.dispose();
        let payload = Buffer.concat(chunks, total);
        // A sync flush always ends with the empty stored block 00 00 ff ff (7.2.1): drop it.
        if (payload.length >= 4 && payload.subarray(payload.length - 4).equals(TAIL)) {
          payload = payload.subarray(0, payload.length - 4);
        }
        resolve(payload);
      };
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk);
        total += chunk.length;
      };
      this.abort = finish;
      zlib.on('data', onData);
      zlib.on('error', finish);
      zlib.write(data);
      zlib.flush(constants.Z_SYNC_FLUSH, () => finish(null));
    });
  }

  private dispose(): void {
    this.zlib?.close();
    this.zlib = null;
  }

  /** Frees the zlib context; pending and later messages are rejected. */
  close(): void {
    this.closed = true;
    this.abort?.(closedError());
    this.dispose();
  }
}
