import type { Socket } from 'node:net';
import { CloseCode } from '../protocol/close-codes.js';
import { Opcode } from '../protocol/opcodes.js';
import type { DeflateParams, DeflateTuning } from '../protocol/permessage-deflate.js';
import {
  deflateWindows,
  ProtocolConnection,
  type ProtocolEvent,
  type Role,
} from '../protocol/protocol-connection.js';
import { MessageDeflater, MessageInflater } from './deflate.js';
import { PeerClosedWhileSending, socketFailure, uncleanEnd } from './end-errors.js';
import { DIRECT_READ_MIN, type ReadSink, type SocketReads } from './socket-reads.js';

export type { Role };

export interface ConnectionOptions {
  role: Role;
  /** Largest incoming message in bytes; larger ones fail the connection with 1009. */
  maxPayload: number;
  /** Milliseconds to wait for the closing handshake and the TCP close once a Close frame is sent. */
  closeTimeout: number;
  /** permessage-deflate as agreed in the handshake, or null. */
  deflate: { params: DeflateParams; tuning: DeflateTuning } | null;
}

type WriteCallback = (error?: Error | null) => void;

/** A frame waiting for the compressed data messages in front of it (frame null: still compressing). */
interface QueuedFrame {
  frame: Buffer | null;
  callback: WriteCallback | undefined;
  /** Our Close frame. */
  close?: boolean;
}

/**
 * The socket's listeners, the same functions for every socket (`this` is the socket, which knows
 * its Connection). Memory: see docs/memory.md#shared-methods-instead-of-closures.
 */
const kConnection = Symbol('websocketstream.connection');
type OwnedSocket = Socket & { [kConnection]: Connection };
let onSocketData: (this: OwnedSocket, chunk: Buffer) => void;
let onSocketError: (this: OwnedSocket, error: Error) => void;
let onSocketClose: (this: OwnedSocket) => void;

function endSocket(this: Socket): void {
  this.end();
}

/** How the connection ended, reported once when the TCP connection is gone. */
export interface ConnectionEnd {
  /** Both Close frames were exchanged and ours was flushed before TCP closed. */
  wasClean: boolean;
  /**
   * The peer's close code (1005 when its Close had no body), or 1006 when none arrived (clean or
   * not: an unclean end after the peer's Close still reports the peer's code and reason).
   */
  code: number;
  reason: string;
  /** What went wrong on an unclean close. */
  error: Error | null;
}

/** Where a Connection delivers its messages and its end (a WebSocketStream's readable source). */
export interface ConnectionReceiver {
  /** A complete message. Return false when no more is wanted for now: reading pauses. */
  onMessage(data: string | Uint8Array): boolean;
  onEnd(end: ConnectionEnd): void;
}

/**
 * One WebSocket connection over an open socket, after the opening handshake: the I/O around a
 * ProtocolConnection, which decides everything the protocol says. Socket bytes go to the
 * protocol, its messages go to the handler, and reading happens only while the handler has
 * demand; the frames it returns go to the socket, corked per tick. Timers (the close timeout) and
 * zlib live here too. The socket stays paused until resume() is called.
 */
export class Connection implements ReadSink {
  private readonly protocol: ProtocolConnection;
  private readonly inflater: MessageInflater | null = null;
  private readonly deflater: MessageDeflater | null = null;
  /** A compressed message is being inflated: parsing waits for it, so that order is kept. */
  private inflating = false;
  /**
   * Frames that must wait for a data message still being compressed: later data messages and our
   * Close. Empty in the common case, when frames go straight to the socket. Pings and pongs never
   * wait here (control frames may go between data messages).
   */
  private outgoing: QueuedFrame[] = [];
  private handler: ConnectionReceiver;
  private flowing = false;
  /** The socket was last resumed (not paused) by us. */
  private socketReading = false;
  private draining = false;
  /** Data messages are dropped instead of delivered (nobody will read them any more). */
  private discarding = false;
  private corked = false;
  /** Our Close frame reached the kernel. */
  private closeFlushed = false;
  /** Why the connection ends uncleanly: a violation, a socket error, a timeout. First one wins. */
  private failure: Error | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private ended = false;
  /** The payload of the latest ping not answered yet: its pong waits for the socket to drain. */
  private pendingPong: Buffer | null = null;
  /**
   * Keepalive hook: called for every frame parsed from the peer (data or control), the only proof
   * of life we can see. Frames behind a paused read are not parsed, so they do not count yet.
   */
  onPeerActivity: (() => void) | null = null;
  /** Called with the payload of every Pong the peer sends (sendPing() matches them to its pings). */
  onPong: ((payload: Uint8Array) => void) | null = null;
  /** performance.now() when the socket last started flowing, or -1 while we hold it paused. */
  private readingSince = -1;
  /** Milliseconds the socket has flowed before readingSince. */
  private readingBefore = 0;

  /**
   * @param reads the socket's reads when we choose where they land (the client over plain TCP):
   *   a large message is then read straight into its own buffer. Null: 'data' events.
   */
  constructor(
    private readonly socket: Socket,
    head: Buffer,
    reads: SocketReads | null,
    private readonly options: ConnectionOptions,
    handler: ConnectionReceiver,
  ) {
    this.handler = handler;
    this.protocol = new ProtocolConnection({
      role: options.role,
      maxPayload: options.maxPayload,
      deflate: options.deflate !== null,
    });
    if (options.deflate !== null) {
      const { params, tuning } = options.deflate;
      const windows = deflateWindows(options.role, params);
      this.inflater = new MessageInflater({ ...windows.inflate, maxPayload: options.maxPayload });
      this.deflater = new MessageDeflater({ ...windows.deflate, level: tuning.level, memLevel: tuning.memLevel });
    }
    // Optional: an application's stream (createConnection) need not be a TCP socket.
    socket.setNoDelay?.(true);
    socket.setTimeout?.(0);
    if (head.length > 0) this.protocol.receive(head);
    (socket as OwnedSocket)[kConnection] = this;
    if (reads === null) {
      socket.on('data', onSocketData);
    } else {
      reads.attach(this);
    }
    // Reading starts with the handler's demand (resume()).
    socket.pause();
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    // Our side of TCP is ended by us once the closing handshake is over; a peer that ends first
    // without a Close frame gets the unclean path through 'close'.
    socket.on('end', endSocket);
  }

  static {
    // In here to reach the private methods.
    onSocketData = function (this: OwnedSocket, chunk: Buffer): void {
      this[kConnection].onChunk(chunk);
    };
    onSocketError = function (this: OwnedSocket, error: Error): void {
      this[kConnection].onSocketError(error);
    };
    onSocketClose = function (this: OwnedSocket): void {
      this[kConnection].onSocketClose();
    };
  }

  /**
   * The handler wants messages: parse what is buffered and read the socket until it has enough.
   * Returns whether reading goes on: false when the messages already received were enough.
   */
  resume(): boolean {
    if (!this.flowing) {
      this.flowing = true;
      this.parseAndDeliver();
    }
    return this.flowing;
  }

  /** Drop incoming data messages from now on; used once nobody reads them. */
  discardMessages(): void {
    this.discarding = true;
    this.resume();
  }

  /** Bytes handed to the socket and not yet written to the kernel, or messages still compressing. */
  private get hasUnwritten(): boolean {
    return this.socket.writableLength > 0 || this.outgoing.length > 0;
  }

  /**
   * Milliseconds spent reading (waiting for the peer) since the connection started, not counting
   * the time our own backpressure held the socket paused: a keepalive measures its pong deadline
   * on this clock, so that a slow consumer on our side is never blamed on the peer.
   */
  get readingTime(): number {
    return this.readingBefore + (this.readingSince < 0 ? 0 : performance.now() - this.readingSince);
  }

  /** Sends a Ping (payload at most 125 bytes). Returns false, without sending, once closing. */
  ping(payload: Uint8Array = new Uint8Array(0)): boolean {
    const frame = this.ended ? null : this.protocol.ping(payload);
    if (frame === null) return false;
    this.write(frame);
    return true;
  }

  /**
   * Sends one message. Returns:
   * - 'sent' when the socket took it with room to spare (its buffer stays below the high-water
   *   mark): the message counts as sent now, as the spec's write() resolves once the message is
   *   buffered, and `callback` is never called. A producer can then queue a whole tick of messages,
   *   which the cork in write() turns into one socket write.
   * - 'pending' when it waits: for a full socket buffer to be written (the producer's backpressure)
   *   or for compression; `callback` runs then, with an error when it never will be sent.
   * - 'refused' once the closing handshake has started; nothing is sent.
   */
  send(data: string | Uint8Array, callback: WriteCallback): 'sent' | 'pending' | 'refused' {
    if (this.protocol.closeSent || this.ended) return 'refused';
    const deflater = this.deflater;
    if (deflater === null || !reachesThreshold(data, this.options.deflate!.tuning.threshold)) {
      const frame = this.protocol.send(data)!;
      if (this.outgoing.length > 0) {
        this.writeInOrder(frame, callback);
        return 'pending';
      }
      // The same test socket.write() makes for its return value, made before writing so that a
      // message sent at once costs no callback.
      const socket = this.socket;
      if (!socket.destroyed && socket.writableLength + frame.length < socket.writableHighWaterMark) {
        this.write(frame);
        return 'sent';
      }
      this.write(frame, callback);
      return 'pending';
    }
    // Copied now: the caller may reuse its buffer as soon as send() returns, zlib reads it later.
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    const opcode = typeof data === 'string' ? Opcode.Text : Opcode.Binary;
    const entry: QueuedFrame = { frame: null, callback };
    this.outgoing.push(entry);
    deflater.deflate(bytes).then(
      (payload) => {
        entry.frame = this.protocol.compressedFrame(opcode, payload);
        this.flushOutgoing();
      },
      (error: Error) => {
        if (!this.outgoing.includes(entry)) return; // already failed by fail() or the end
        this.outgoing.splice(this.outgoing.indexOf(entry), 1);
        callback(error);
        this.fail(error); // our own zlib failed: 1011
      },
    );
    return 'pending';
  }

  /** Writes a frame now, or behind the data messages still being compressed. */
  private writeInOrder(frame: Buffer, callback?: WriteCallback, close = false): void {
    if (this.outgoing.length === 0) this.write(frame, callback);
    else this.outgoing.push({ frame, callback, close });
  }

  /** Writes the frames at the head of the queue whose compression is done. */
  private flushOutgoing(): void {
    while (this.outgoing.length > 0 && this.outgoing[0]!.frame !== null) {
      const { frame, callback } = this.outgoing.shift()!;
      this.write(frame!, callback);
    }
  }

  /** Fails every frame still waiting to be compressed or written (the connection is going away). */
  private dropOutgoing(error: Error): void {
    for (const { callback } of this.outgoing.splice(0)) callback?.(error);
  }

  /** Starts the closing handshake: a Close frame without body when `code` is undefined. Once only. */
  close(code?: number, reason = ''): void {
    if (this.ended) return;
    const frame = this.protocol.close(code, reason);
    if (frame !== null) this.sendClose(frame);
  }

  /** Drops the connection at once (no closing handshake); the end is reported as unclean. */
  destroy(error: Error): void {
    this.failure ??= error;
    this.socket.destroy();
  }

  /** ReadSink: straight into a message only while we parse; paused or inflating, bytes wait in a chunk. */
  readTarget(): Uint8Array | null {
    return this.parsing ? this.protocol.payloadTarget(DIRECT_READ_MIN) : null;
  }

  /** ReadSink: a read landed in the buffer readTarget() gave. */
  onTargetRead(target: Uint8Array, n: number): void {
    if (!this.protocol.receiving) return;
    this.protocol.payloadReceived(target, n);
    this.parseAndDeliver();
  }

  /** Bytes read from the socket ('data', or ReadSink: a read that landed in a chunk). */
  onChunk(chunk: Buffer): void {
    if (!this.protocol.receiving) return; // after Close or failure, whatever follows is ignored
    this.protocol.receive(chunk);
    this.parseAndDeliver();
  }

  /**
   * ReadSink: the next read would land in `chunk`'s memory. Refused while a compressed message
   * being inflated may view it, or while too many of its bytes are unparsed to copy them out.
   */
  release(chunk: Buffer): boolean {
    return !this.inflating && this.protocol.release(chunk);
  }

  /**
   * Parses and delivers events while there is demand; pauses the socket as soon as there is none.
   */
  private parseAndDeliver(): void {
    if (this.draining) return; // re-entered from the handler (enqueue -> pull -> resume)
    this.draining = true;
    try {
      while (this.parsing) {
        const event = this.protocol.next();
        if (event === null) break;
        this.dispatch(event);
      }
    } catch (error) {
      this.fail(error as Error); // thrown by the handler, or by our own code: 1011
    } finally {
      this.draining = false;
    }
    // While a message is inflating, the socket stays paused: bytes behind wait in the kernel. Once
    // the input is over, reading goes on so that the peer's FIN is seen.
    const receiving = this.protocol.receiving;
    this.setSocketReading(!receiving || this.parsing);
    this.trackReading(this.flowing && receiving && !this.inflating);
  }

  /**
   * Frames are parsed while the handler has demand and no message is inflating (order). A pong
   * waiting for our socket buffer to drain does not stop reading: if both ends stopped reading
   * until their pongs were written, and both had full buffers (bulk both ways, pings both ways),
   * neither buffer could ever drain. See answerPing() for what bounds a ping flood instead.
   */
  private get parsing(): boolean {
    return this.flowing && this.protocol.receiving && !this.inflating;
  }

  /** Pauses or resumes the socket, calling it only on a change: this runs once per message or so. */
  private setSocketReading(reading: boolean): void {
    if (reading === this.socketReading) return;
    this.socketReading = reading;
    if (reading) this.socket.resume();
    else this.socket.pause();
  }

  private trackReading(reading: boolean): void {
    if (reading === this.readingSince >= 0) return;
    const now = performance.now();
    if (reading) {
      this.readingSince = now;
    } else {
      this.readingBefore += now - this.readingSince;
      this.readingSince = -1;
    }
  }

  private dispatch(event: ProtocolEvent): void {
    if (event.type === 'failed') {
      this.failed(event.error, event.closeAlreadySent ? null : event.closeFrame, event.closeFrame);
      return;
    }
    this.onPeerActivity?.();
    switch (event.type) {
      case 'text':
      case 'binary':
        this.deliver(event.data);
        return;
      case 'compressed':
        this.inflate(event.opcode, event.fragments);
        return;
      case 'ping':
        this.answerPing(event.payload);
        return;
      case 'pong':
        this.onPong?.(event.payload);
        return;
      case 'close':
        this.onPeerClose(event.code, event.reason);
    }
  }

  /**
   * Pongs go out at once while the socket's buffer is below its high-water mark. Above it (a peer
   * that pings and does not read, or just a full pipe) only the most recent ping waits for an
   * answer (RFC 6455 5.5.3), sent when the buffer drains: a ping flood costs one pong of memory,
   * not one per ping, and reading goes on (parsing a ping costs what parsing any frame costs, and
   * frames are only parsed while the application asks for messages).
   */
  private answerPing(payload: Buffer): void {
    if (this.protocol.closeSent) return;
    const socket = this.socket;
    if (socket.writableLength < socket.writableHighWaterMark) {
      this.write(this.protocol.pong(payload)!);
      return;
    }
    if (this.pendingPong === null) {
      socket.once('drain', () => {
        const pong = this.protocol.pong(this.pendingPong!);
        this.pendingPong = null;
        if (pong !== null) this.write(pong);
      });
    }
    this.pendingPong = payload; // the ping's own copy (events never view a socket chunk)
  }

  private deliver(data: string | Uint8Array): void {
    if (!this.discarding && !this.handler.onMessage(data)) this.flowing = false;
  }

  /**
   * Starts inflating a compressed message. Parsing stops until it is done, so the message keeps
   * its place among the others, and zlib only ever works for a reader that asked (parsing runs
   * only while flowing). The result is delivered like any message, then parsing goes on.
   */
  private inflate(opcode: number, fragments: Buffer[]): void {
    // Nobody will read it (discarding never ends), so the dictionary no longer matters either.
    if (this.discarding) return;
    this.inflating = true;
    this.inflater!.inflate(fragments).then(
      (payload) => {
        this.inflating = false;
        if (!this.protocol.receiving || this.ended) return;
        try {
          const event = this.protocol.inflated(opcode, payload);
          if (event.type === 'text' || event.type === 'binary') this.deliver(event.data);
          else if (event.type === 'failed') this.dispatch(event);
        } catch (error) {
          this.fail(error as Error);
        }
        // Parse what follows; after a failure this resumes the socket so that the peer's FIN is seen.
        this.parseAndDeliver();
      },
      (error: Error) => {
        this.inflating = false;
        this.fail(error);
        this.parseAndDeliver();
      },
    );
  }

  private onPeerClose(code: number, reason: string): void {
    if (!this.protocol.closeSent && this.hasUnwrittenData()) {
      this.failure ??= new PeerClosedWhileSending(code, reason);
      this.socket.destroy();
      return;
    }
    const reply = this.protocol.replyToClose();
    if (reply !== null) this.sendClose(reply);
    else if (this.closeFlushed) this.socket.end();
  }

  /**
   * Whether bytes given to the socket (or messages still compressing) have not reached the kernel.
   * Frames corked in this tick are flushed first, so that only a full socket counts.
   */
  private hasUnwrittenData(): boolean {
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
    return this.hasUnwritten;
  }

  /** Something on our side broke the connection (our zlib): the protocol fails it (1011). */
  private fail(error: Error): void {
    if (this.failure !== null || this.ended) return;
    const closeAlreadySent = this.protocol.closeSent;
    const frame = this.protocol.fail(error);
    this.failed(error, closeAlreadySent ? null : frame, frame);
  }

  /**
   * The connection failed: tell the peer why with `closeFrame` (null when our Close left already),
   * then drop the connection. `failureClose` is that same Close, sent anyway when ours was still
   * waiting behind a message being compressed (the failure drops that message, and our Close).
   */
  private failed(error: Error, closeFrame: Buffer | null, failureClose: Buffer): void {
    if (this.failure !== null || this.ended) return;
    this.failure = error;
    // The Close goes out now, not behind messages still compressing: those are dropped, and so is
    // a Close of ours that was waiting behind them (this one replaces it).
    const closeWasWaiting = this.outgoing.some((entry) => entry.close === true);
    this.dropOutgoing(new Error('The connection failed before the message was sent'));
    if (closeFrame !== null || closeWasWaiting) this.sendClose(closeFrame ?? failureClose);
    this.socket.end();
  }

  /** Sends our Close (behind data messages still compressing) and starts the close timeout. */
  private sendClose(frame: Buffer): void {
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    // Behind any data message still compressing: everything send() accepted goes out first.
    this.writeInOrder(frame, (error) => {
      if (error) return;
      this.closeFlushed = true;
      // Both Close frames exchanged: the handshake is over, TCP can go.
      if (this.protocol.peerClose !== null) this.socket.end();
    }, true);
    this.closeTimer = setTimeout(() => {
      if (this.protocol.peerClose === null) this.failure ??= new Error('Closing handshake timed out');
      this.socket.destroy();
    }, this.options.closeTimeout);
    this.closeTimer.unref?.();
  }

  /**
   * Frames written in one tick leave in one socket write. Returns whether the socket's buffer is
   * still below its high-water mark (false when the socket is gone).
   */
  private write(frame: Buffer, callback?: WriteCallback): boolean {
    if (this.socket.destroyed) {
      if (callback) process.nextTick(callback, new Error('Socket is closed'));
      return false;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    if (callback === undefined) return this.socket.write(frame);
    return this.socket.write(frame, (error?: Error | null) => {
      // Node calls a pending write's callback WITHOUT an error when the socket is destroyed before
      // the write completes (net's onWriteComplete: `if (stream.destroyed) callback(null)`), e.g.
      // on a reset while the peer is not reading. Without this check a message that never left
      // would resolve its write() and a Close frame that never left would count as flushed.
      if (!error && this.socket.destroyed) error = new Error('The socket closed before the data was written');
      callback(error);
    });
  }

  private onSocketError(error: Error): void {
    // After a complete closing handshake a reset changes nothing; before it, it is the cause.
    if (this.protocol.peerClose !== null && this.closeFlushed) return;
    this.failure ??= socketFailure(error, this.hasUnwritten);
  }

  private onSocketClose(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.dropOutgoing(new Error('The socket closed before the data was written'));
    // Memory: see docs/memory.md#compression-contexts (free zlib's native memory now, not at GC).
    this.inflater?.close();
    this.deflater?.close();
    const peerClose = this.protocol.peerClose;
    const wasClean = this.failure === null && peerClose !== null && this.closeFlushed;
    this.handler.onEnd({
      wasClean,
      // The peer's Close was read: its code and reason, even when what followed was not clean (a
      // peer that drops TCP after its Close, as WebSocket-Node does at its limits).
      code: peerClose?.code ?? CloseCode.Abnormal,
      reason: peerClose?.reason ?? '',
      error: wasClean ? null : uncleanEnd(this.failure, peerClose),
    });
  }
}

/**
 * Whether a message is at least `threshold` bytes. A string's UTF-8 length is between its length
 * and three times that, so it is measured only when those bounds do not decide.
 */
function reachesThreshold(data: string | Uint8Array, threshold: number): boolean {
  if (typeof data !== 'string') return data.length >= threshold;
  if (data.length >= threshold) return true;
  if (data.length * 3 < threshold) return false;
  return Buffer.byteLength(data, 'utf8') >= threshold;
}
