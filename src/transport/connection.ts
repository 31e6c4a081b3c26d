import type { Socket } from 'node:net';
import { CloseCode } from '../protocol/close-codes.js';
import { encodeCloseBody } from '../protocol/close-frame.js';
import { encodeFrame, encodeTextFrame } from '../protocol/frame-writer.js';
import { MessageReader, type ReceivedEvent } from '../protocol/message-reader.js';
import { Opcode } from '../protocol/opcodes.js';
import { ProtocolError } from '../protocol/protocol-error.js';

export type Role = 'client' | 'server';

export interface ConnectionOptions {
  role: Role;
  /** Largest incoming message in bytes; larger ones fail the connection with 1009. */
  maxPayload: number;
  /** Milliseconds to wait for the closing handshake and the TCP close once a Close frame is sent. */
  closeTimeout: number;
}

/** How the connection ended, reported once when the TCP connection is gone. */
export interface ConnectionEnd {
  /** Both Close frames were exchanged and ours was flushed before TCP closed. */
  wasClean: boolean;
  /** The peer's close code (1005 when its Close had no body), or 1006 when none arrived. */
  code: number;
  reason: string;
  /** What went wrong on an unclean close. */
  error: Error | null;
}

export interface ConnectionHandler {
  /** A complete message. Return false when no more is wanted for now: reading pauses. */
  onMessage(data: string | Uint8Array): boolean;
  /** The peer's Close frame arrived. */
  onPeerClose(code: number, reason: string): void;
  onEnd(end: ConnectionEnd): void;
}

/**
 * One WebSocket connection over an open socket, after the opening handshake: socket bytes go to
 * the MessageReader, messages go to the handler, and reading happens only while the handler has
 * demand. The socket stays paused until resume() is called.
 */
export class Connection {
  private readonly reader: MessageReader;
  private readonly mask: boolean;
  private handler: ConnectionHandler;
  private flowing = false;
  private draining = false;
  /** Data messages are dropped instead of delivered (nobody will read them any more). */
  private discarding = false;
  /** No more frames are parsed: the peer closed, or broke the protocol. */
  private inputDone = false;
  private corked = false;
  private closeSent = false;
  private closeFlushed = false;
  private peerClose: { code: number; reason: string } | null = null;
  private failure: Error | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private ended = false;
  /**
   * Keepalive hook: called for every frame parsed from the peer (data or control), the only proof
   * of life we can see. Frames behind a paused read are not parsed, so they do not count yet.
   */
  onPeerActivity: (() => void) | null = null;
  /** performance.now() when the socket last started flowing, or -1 while we hold it paused. */
  private readingSince = -1;
  /** Milliseconds the socket has flowed before readingSince. */
  private readingBefore = 0;

  constructor(
    private readonly socket: Socket,
    head: Buffer,
    private readonly options: ConnectionOptions,
    handler: ConnectionHandler,
  ) {
    this.handler = handler;
    this.mask = options.role === 'client';
    this.reader = new MessageReader({ expectMasked: options.role === 'server', maxPayload: options.maxPayload });
    socket.pause();
    socket.setNoDelay(true);
    socket.setTimeout(0);
    if (head.length > 0) this.reader.push(head);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: Error) => this.onSocketError(error));
    socket.on('close', () => this.onSocketClose());
    // Our side of TCP is ended by us once the closing handshake is over; a peer that ends first
    // without a Close frame gets the unclean path through 'close'.
    socket.on('end', () => this.socket.end());
  }

  /** The handler wants messages: parse what is buffered and read the socket until it has enough. */
  resume(): void {
    if (this.flowing) return;
    this.flowing = true;
    this.drain();
  }

  /** Drop incoming data messages from now on; used once nobody reads them. */
  discardMessages(): void {
    this.discarding = true;
    this.resume();
  }

  /** Bytes handed to the socket and not yet written to the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
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
    if (this.closeSent || this.ended) return false;
    this.write(encodeFrame(Opcode.Ping, payload, this.mask));
    return true;
  }

  get isClosing(): boolean {
    return this.closeSent || this.peerClose !== null || this.ended;
  }

  /**
   * Sends one message; `callback` runs once the socket has taken it: at once when the socket's
   * buffer is still below its high-water mark, otherwise when the socket has written it (with an
   * error when it never will). Returns false, without sending, once the closing handshake has
   * started.
   */
  send(data: string | Uint8Array, callback: (error?: Error | null) => void): boolean {
    if (this.closeSent || this.ended) return false;
    const frame = typeof data === 'string'
      ? encodeTextFrame(data, this.mask)
      : encodeFrame(Opcode.Binary, data, this.mask);
    // Handed to a socket with room is "sent" for the caller (the spec's write() resolves when the
    // message is buffered, not delivered). Resolving now lets a producer queue many messages in
    // one tick, which the cork below turns into one socket write; a full socket buffer still waits
    // for the write to complete, which is the producer's backpressure.
    let settled = false;
    const accepted = this.write(frame, (error) => {
      if (settled) return;
      settled = true;
      callback(error);
    });
    if (accepted && !settled) {
      settled = true;
      callback(null);
    }
    return true;
  }

  /** Starts the closing handshake: a Close frame without body when `code` is undefined. Once only. */
  close(code?: number, reason = ''): void {
    if (this.closeSent || this.ended) return;
    this.sendClose(code, reason);
  }

  /** Drops the connection at once (no closing handshake); the end is reported as unclean. */
  destroy(error: Error): void {
    this.failure ??= error;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.inputDone) return; // after Close or failure, whatever follows is ignored
    this.reader.push(chunk);
    this.drain();
  }

  /** Delivers parsed events while there is demand; pauses the socket as soon as there is none. */
  private drain(): void {
    if (this.draining) return; // re-entered from the handler (enqueue -> pull -> resume)
    this.draining = true;
    try {
      while (this.flowing && !this.inputDone) {
        const event = this.reader.next();
        if (event === null) break;
        this.dispatch(event);
      }
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.draining = false;
    }
    if (this.flowing || this.inputDone) this.socket.resume();
    else this.socket.pause();
    this.trackReading(this.flowing && !this.inputDone);
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

  private dispatch(event: ReceivedEvent): void {
    this.onPeerActivity?.();
    switch (event.type) {
      case 'text':
      case 'binary':
        if (!this.discarding && !this.handler.onMessage(event.data)) this.flowing = false;
        return;
      case 'ping':
        if (!this.closeSent) this.write(encodeFrame(Opcode.Pong, event.payload, this.mask));
        return;
      case 'pong':
        return;
      case 'close':
        this.onPeerClose(event.code, event.reason);
    }
  }

  private onPeerClose(code: number, reason: string): void {
    this.inputDone = true;
    this.peerClose = { code, reason };
    // Echo the peer's code (RFC 6455 5.5.1); a body-less Close is answered body-less.
    if (!this.closeSent) this.sendClose(code === CloseCode.NoStatusReceived ? undefined : code, '');
    else if (this.closeFlushed) this.socket.end();
    this.handler.onPeerClose(code, reason);
  }

  /** The peer broke the protocol: tell it why with a Close frame, then drop the connection. */
  private fail(error: Error): void {
    if (this.failure !== null || this.ended) return;
    this.failure = error;
    this.inputDone = true;
    const code = error instanceof ProtocolError ? error.closeCode : CloseCode.InternalError;
    if (!this.closeSent) this.sendClose(code, error.message.slice(0, 123));
    this.socket.end();
  }

  private sendClose(code: number | undefined, reason: string): void {
    this.closeSent = true;
    this.write(encodeFrame(Opcode.Close, encodeCloseBody(code, reason), this.mask), (error) => {
      if (error) return;
      this.closeFlushed = true;
      // Both Close frames exchanged: the handshake is over, TCP can go.
      if (this.peerClose !== null) this.socket.end();
    });
    this.closeTimer = setTimeout(() => {
      if (this.peerClose === null) this.failure ??= new Error('Closing handshake timed out');
      this.socket.destroy();
    }, this.options.closeTimeout);
    this.closeTimer.unref?.();
  }

  /**
   * Frames written in one tick leave in one socket write. Returns whether the socket's buffer is
   * still below its high-water mark (false when the socket is gone).
   */
  private write(frame: Buffer, callback?: (error?: Error | null) => void): boolean {
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
    if (this.peerClose !== null && this.closeFlushed) return;
    this.failure ??= error;
  }

  private onSocketClose(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    const peerClose = this.peerClose;
    const wasClean = this.failure === null && peerClose !== null && this.closeFlushed;
    this.handler.onEnd({
      wasClean,
      code: wasClean ? peerClose!.code : CloseCode.Abnormal,
      reason: wasClean ? peerClose!.reason : '',
      error: wasClean ? null : this.failure ?? new Error('Connection closed without a closing handshake'),
    });
  }
}
