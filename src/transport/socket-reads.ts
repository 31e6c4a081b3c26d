import { connect, type IpcNetConnectOpts, type Socket, type TcpNetConnectOpts } from 'node:net';

/** Size of the chunk a read lands in when it does not go straight into a message. */
const CHUNK_BYTES = 64 * 1024;
/**
 * A read goes straight into a message's buffer only when at least this much of it is still to
 * come: a smaller read would cost a system call of its own for a few bytes.
 */
export const DIRECT_READ_MIN = 16 * 1024;

/** Where a socket's bytes go once the WebSocket connection owns it. */
export interface ReadSink {
  /** The buffer the next read should fill (part of a message being received), or null. */
  readTarget(): Uint8Array | null;
  /** `n` bytes were read into the buffer readTarget() returned. */
  onTargetRead(target: Uint8Array, n: number): void;
  /** A read landed in a chunk; the sink may keep views of it until release() says otherwise. */
  onChunk(chunk: Buffer): void;
  /**
   * Asked when the buffer of the next read is chosen (Node does that right after each read is
   * handled): let go of `chunk`, the last one handed over, so that the read can land in its memory.
   * False when the sink still needs its bytes: the read gets a new chunk.
   */
  release(chunk: Buffer): boolean;
}

/**
 * Chooses the buffer every read of a socket lands in (net.Socket's `onread` option): a large
 * message's payload goes from the kernel straight into the ArrayBuffer the application gets, and a
 * chunk the sink let go of takes the next read. Memory: see
 * docs/memory.md#reads-straight-into-the-messages-buffer and #one-read-buffer-reused.
 *
 * Until a sink is attached (the HTTP handshake), reads are pushed into the socket's readable side
 * as usual, where Node's HTTP parser reads the response.
 */
export class SocketReads {
  private socket: Socket | null = null;
  private sink: ReadSink | null = null;
  /** The chunk reads land in (when not in the sink's target); null: allocate one. */
  private chunk: Buffer | null = null;
  /** The bytes of `chunk` last handed to the sink, until it releases them. */
  private lent: Buffer | null = null;
  /** The buffer handed out for the next read is the sink's target (not a chunk). */
  private nextIsTarget = false;

  /** Opens the TCP (or Unix socket) connection whose reads this object places. */
  connect(target: Pick<TcpNetConnectOpts, 'host' | 'port'> | Pick<IpcNetConnectOpts, 'path'>): Socket {
    this.socket = connect({
      ...target,
      onread: {
        buffer: () => this.chooseBuffer(),
        callback: (n: number, buffer: Uint8Array) => this.onRead(n, buffer),
      },
    });
    return this.socket;
  }

  /**
   * From now on reads go to `sink`. Bytes that arrived before it (left in the socket's readable
   * side behind the handshake response) are handed over first, so order is kept.
   */
  attach(sink: ReadSink): void {
    this.sink = sink;
    const socket = this.socket!;
    for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) sink.onChunk(chunk);
  }

  /** Called by Node before every read (and once when the socket is created). */
  private chooseBuffer(): Uint8Array {
    const target = this.sink?.readTarget() ?? null;
    this.nextIsTarget = target !== null;
    if (target !== null) return target;
    // The chunk takes the next read again when the sink let go of what it read last time (always
    // while the reader keeps up; not when it paused with much of the chunk unparsed): no 64 KiB
    // allocated, and collected, per read.
    if (this.lent !== null) {
      if (!this.sink!.release(this.lent)) this.chunk = null;
      this.lent = null;
    }
    this.chunk ??= Buffer.allocUnsafeSlow(CHUNK_BYTES);
    return this.chunk;
  }

  private onRead(n: number, buffer: Uint8Array): boolean {
    if (this.nextIsTarget) {
      this.sink!.onTargetRead(buffer, n);
      return true;
    }
    const chunk = (buffer as Buffer).subarray(0, n);
    if (this.sink !== null) {
      this.lent = chunk;
      this.sink.onChunk(chunk);
      return true;
    }
    this.chunk = null;
    // During the handshake Node's HTTP client reads the response from the readable side; false
    // (its buffer is full) stops reading until it asks for more.
    return this.socket!.push(chunk);
  }
}
