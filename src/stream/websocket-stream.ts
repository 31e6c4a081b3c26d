import type { UnderlyingSink, UnderlyingSource } from 'node:stream/web';
import { CloseCode } from '../protocol/close-codes.js';
import { ProtocolError } from '../protocol/protocol-error.js';
import { connectClient } from '../transport/client-connect.js';
import type { OpenedSocket } from '../transport/client-handshake.js';
import { Connection, type ConnectionEnd, type ConnectionReceiver, type Role } from '../transport/connection.js';
import { Keepalive } from '../transport/keepalive.js';
import { resolveOptions, type ResolvedOptions, type WebSocketStreamOptions } from './options.js';
import { parseWebSocketUrl, toMessageData } from './conversions.js';
import { requireArguments, validateCloseInfo, WebSocketError, type WebSocketCloseInfo } from './websocket-error.js';
import { ignore } from '../protocol/ignore.js';

export { parseWebSocketUrl };

/** What `opened` resolves to. */
export interface WebSocketOpenInfo {
  readable: ReadableStream<string | Uint8Array | ArrayBuffer>;
  writable: WritableStream<unknown>;
  /** The subprotocol the server selected, or "". */
  protocol: string;
  /** The extensions the server agreed to, or "". */
  extensions: string;
}

/** close()'s argument: the standard's closeCode and reason, plus a Node extension. */
export interface WebSocketCloseOptions extends WebSocketCloseInfo {
  /**
   * Node extension (browsers ignore it): keep every message that arrives until the peer's Close,
   * as `writer.close()` does, instead of dropping those that no longer fit the readable's queue.
   * Reading stays paused while the queue is full, so the peer's Close waits behind the messages;
   * `closeTimeout` still bounds the whole closing handshake. Default false.
   */
  keepMessages?: boolean;
}

/** What `closed` resolves to after a clean close. */
export interface WebSocketClosedInfo {
  closeCode: number;
  reason: string;
}

/** The sink's write() that waits for the socket. */
interface PendingWrite {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * @internal How the server side hands an accepted socket to a WebSocketStream: symbol-keyed
 * options that the package root does not export.
 */
export const kOpen = Symbol('websocketstream.open');
export const kRole = Symbol('websocketstream.role');
/** @internal Called with the Connection once it exists (the server's keepalive and shutdown use it). */
export const kAttach = Symbol('websocketstream.attach');
interface InternalOptions {
  [kOpen]?: (signal: AbortSignal) => Promise<OpenedSocket>;
  [kRole]?: Role;
  [kAttach]?: (connection: Connection) => void;
}

type Chunk = string | Uint8Array | ArrayBuffer;

/*
 * The readable's underlying source (also the connection's receiver) and the writable's sink,
 * defined in WebSocketStream's static block: objects whose methods are shared, not arrow functions.
 * Memory: see docs/memory.md#shared-methods-instead-of-closures.
 */
/** @internal The stream's connection (null before it opens), for Node extensions such as sendPing(). */
export let connectionOf: (wss: WebSocketStream) => Connection | null;
/**
 * @internal Once the stream is open: every message from now on goes to `callback`, in order, as
 * soon as it is parsed, instead of into the readable (which the caller does not read), and reading
 * never pauses for lack of demand. For the classic WebSocket, which has no read backpressure.
 */
export let deliverMessagesTo: (wss: WebSocketStream, callback: (data: string | Uint8Array) => void) => void;
let ReadableSource: new (wss: WebSocketStream) => UnderlyingSource<Chunk> & ConnectionReceiver;
let WritableSink: new (wss: WebSocketStream) => UnderlyingSink<unknown>;

/**
 * A WebSocket connection as a pair of WHATWG streams (the WebSocketStream API of Chrome 124+ and
 * the whatwg/websockets draft). Reading applies backpressure down to TCP: the socket is read only
 * while the readable's queue has room.
 */
export class WebSocketStream {
  readonly #url: string;
  readonly #opened: Promise<WebSocketOpenInfo>;
  readonly #closed: Promise<WebSocketClosedInfo>;
  #resolveOpened!: (info: WebSocketOpenInfo) => void;
  #rejectOpened!: (reason: unknown) => void;
  #resolveClosed!: (info: WebSocketClosedInfo) => void;
  #rejectClosed!: (reason: unknown) => void;

  #options: ResolvedOptions;
  #role: Role;
  #attach: ((connection: Connection) => void) | undefined;
  /** Aborts the opening handshake when close() is called before it completes; null once open. */
  #handshakeAbort: AbortController | null = new AbortController();
  #connection: Connection | null = null;
  #readableController: ReadableStreamDefaultController<Chunk> | null = null;
  #writableController: WritableStreamDefaultController | null = null;
  /** The application called close(): it will not wait for more data, so nothing may hold the close up. */
  #closeRequested = false;
  /** writer.close() is waiting for the closing handshake. */
  #writableClosing = false;
  #readableDone = false;
  #settled = false;
  /** Set by deliverMessagesTo(): where messages go instead of the readable. */
  #messageCallback: ((data: string | Uint8Array) => void) | null = null;
  /** Messages, and their bytes, enqueued beyond the queue's limit since it last had room (read-ahead). */
  #aheadMessages = 0;
  #aheadBytes = 0;
  /** Settles the readable's pending pull(): reading paused, the next read() may call pull() again. */
  #settlePull: (() => void) | null = null;
  /**
   * The sink's write() still waiting for the socket; at most one, as the writable calls write()
   * only after the previous one settled. A write the socket failed stays here until #onEnd.
   */
  #pendingWrite: PendingWrite | null = null;

  constructor(url: string | URL, options?: WebSocketStreamOptions) {
    requireArguments(arguments.length, 1, 'WebSocketStream constructor');
    this.#options = resolveOptions(options);
    this.#url = parseWebSocketUrl(url).href;
    const internal = (options ?? {}) as InternalOptions;
    this.#role = internal[kRole] ?? 'client';
    this.#attach = internal[kAttach];

    this.#opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.#closed = new Promise((resolve, reject) => {
      this.#resolveClosed = resolve;
      this.#rejectClosed = reject;
    });
    // Browsers only log an unawaited rejection; in Node it would crash the process. `closed` gets
    // its handler only when it rejects. Memory: see docs/memory.md#nothing-of-the-handshake-kept-once-open.
    this.#opened.catch(ignore);

    const { signal } = this.#options;
    if (signal?.aborted) {
      this.#fail(signal.reason);
      return;
    }
    const handshakeSignal = signal ? AbortSignal.any([signal, this.#handshakeAbort!.signal]) : this.#handshakeAbort!.signal;
    const open = internal[kOpen] ?? ((s: AbortSignal) => connectClient(new URL(this.#url), this.#options, s));
    open(handshakeSignal).then(
      (opened) => this.#onOpen(opened),
      (error: unknown) => {
        // The application's signal: both promises reject with its reason, as the draft says.
        if (signal?.aborted && error === signal.reason) this.#fail(error);
        else this.#failHandshake((error as Error).message, error);
      },
    );
  }

  /** The URL, with `http:`/`https:` mapped to `ws:`/`wss:`. */
  get url(): string {
    return this.#url;
  }

  /** Resolves once the connection is open; rejects if it could not be established. */
  get opened(): Promise<WebSocketOpenInfo> {
    return this.#opened;
  }

  /** Resolves with the peer's close code and reason after a clean close; rejects otherwise. */
  get closed(): Promise<WebSocketClosedInfo> {
    return this.#closed;
  }

  /**
   * Starts the closing handshake (or abandons the opening one). Code 1000 or 3000-4999; reason at
   * most 123 UTF-8 bytes. Calling it again does nothing, except that a close() without
   * `keepMessages` after one with it stops waiting for the reader.
   */
  close(closeInfo?: WebSocketCloseOptions): void {
    const { code, reason } = validateCloseInfo(closeInfo);
    if (this.#settled) return;
    const connection = this.#connection;
    if (connection === null) {
      this.#handshakeAbort?.abort(WebSocketError.create('WebSocket was closed before the connection was established', CloseCode.Abnormal));
      return;
    }
    // As writer.close() does, but with a code: the readable keeps its backpressure.
    if (closeInfo?.keepMessages === true) connection.close(code, reason);
    else this.#closeByApplication(code, reason);
  }

  /**
   * close() and writable.abort(): the application is done with the connection. Keep reading so
   * that the peer's Close frame is seen even if nobody reads; messages that do not fit the queue
   * any more are dropped (see #onMessage).
   */
  #closeByApplication(code: number | undefined, reason: string): void {
    if (this.#closeRequested) return;
    this.#closeRequested = true;
    this.#connection!.close(code, reason);
    this.#connection!.resume();
  }

  #onOpen(opened: OpenedSocket): void {
    try {
      this.#setUp(opened);
    } catch (error) {
      // A failure of ours after a successful handshake (a stream that lacks what we call, a
      // queuing strategy the streams refuse...): fail the connection, never leave `opened` pending.
      const message = `The connection could not be set up: ${error instanceof Error ? error.message : String(error)}`;
      this.#fail(WebSocketError.create(message, null, '', error), WebSocketError.create(message, CloseCode.Abnormal, '', error));
      opened.socket.destroy();
    }
  }

  #setUp({ socket, head, protocol, extensions, deflate, reads }: OpenedSocket): void {
    if (this.#settled) {
      socket.destroy();
      return;
    }
    const source = new ReadableSource(this);
    const connection = new Connection(socket, head, reads, {
      role: this.#role,
      maxPayload: this.#options.maxPayload,
      closeTimeout: this.#options.closeTimeout,
      deflate,
    }, source);
    this.#connection = connection;
    // Memory: see docs/memory.md#nothing-of-the-handshake-kept-once-open.
    this.#handshakeAbort = null;
    this.#attach?.(connection);
    this.#attach = undefined;
    if (this.#options.keepalive !== null) {
      // The client's keepalive (the server starts its own through kAttach).
      const keepalive = new Keepalive(connection, this.#options.keepalive, (error) => connection.destroy(error));
      keepalive.start(socket);
      const stop = (): void => keepalive.stop();
      this.#closed.then(stop, stop);
    }

    const readable = new ReadableStream<Chunk>(source, this.#options.readableStrategy);
    const writable = new WritableStream<unknown>(new WritableSink(this), this.#options.writableStrategy);

    this.#resolveOpened({ readable, writable, protocol, extensions });
    // Memory: see docs/memory.md#nothing-of-the-handshake-kept-once-open.
    this.#resolveOpened = this.#rejectOpened = ignore;
  }

  static {
    // In here to reach the private members.
    connectionOf = (wss) => wss.#connection;
    deliverMessagesTo = (wss, callback) => {
      wss.#messageCallback = callback;
      wss.#connection?.resume();
    };
    ReadableSource = class implements UnderlyingSource<Chunk>, ConnectionReceiver {
      constructor(private readonly wss: WebSocketStream) {}

      start(controller: ReadableStreamDefaultController<Chunk>): void {
        this.wss.#readableController = controller;
      }

      // pull() stays pending while the socket flows, and settles when reading pauses for lack of
      // demand (#onMessage). While it is pending the streams machinery does not call it again;
      // otherwise it would after every enqueue: a call, a promise and a microtask per message.
      // When the messages already received fill the queue at once (a reader slower than the
      // peer), there is nothing to wait for and no promise is made.
      pull(): Promise<void> | undefined {
        const wss = this.wss;
        if (!wss.#connection!.resume()) return undefined;
        return new Promise<void>((resolve) => {
          wss.#settlePull = resolve;
        });
      }

      cancel(reason: unknown): void {
        this.wss.#readableDone = true;
        this.wss.#closeWithReason(reason);
        this.wss.#connection!.discardMessages();
      }

      onMessage(data: string | Uint8Array): boolean {
        return this.wss.#onMessage(data);
      }

      onEnd(end: ConnectionEnd): void {
        this.wss.#onEnd(end);
      }
    };

    WritableSink = class implements UnderlyingSink<unknown> {
      constructor(private readonly wss: WebSocketStream) {}

      start(controller: WritableStreamDefaultController): void {
        this.wss.#writableController = controller;
      }

      write(chunk: unknown) {
        return this.wss.#write(chunk);
      }

      close(): Promise<void> {
        this.wss.#writableClosing = true;
        this.wss.#connection!.close();
        return this.wss.#closed.then(() => undefined);
      }

      abort(reason: unknown): void {
        this.wss.#closeWithReason(reason);
      }
    };
  }

  /** Returns whether the readable wants more: false pauses the socket. */
  #onMessage(data: string | Uint8Array): boolean {
    const callback = this.#messageCallback;
    if (callback !== null) {
      callback(data);
      return true;
    }
    const controller = this.#readableController!;
    if (this.#readableDone) return true;
    const chunk = typeof data === 'string' || this.#options.binaryType === 'uint8array' ? data : data.buffer as ArrayBuffer;
    if (this.#closeRequested) {
      // close() was called: deliver what fits, never stall the closing handshake.
      if ((controller.desiredSize ?? 0) > 0) controller.enqueue(chunk);
      return true;
    }
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) > 0) {
      this.#aheadMessages = this.#aheadBytes = 0;
      return true;
    }
    // A bounded read-ahead beyond the queue's limit: small messages already received keep coming
    // until READ_AHEAD_MESSAGES or READ_AHEAD_BYTES are reached, so that pull() and its promise
    // run once per batch of small messages instead of once per message. Memory stays bounded:
    // the queue never holds more than its limit plus this read-ahead.
    const bytes = typeof data === 'string' ? data.length : data.byteLength;
    if (bytes <= READ_AHEAD_MESSAGE_BYTES && this.#aheadMessages < READ_AHEAD_MESSAGES &&
      this.#aheadBytes + bytes <= READ_AHEAD_BYTES) {
      this.#aheadMessages++;
      this.#aheadBytes += bytes;
      return true;
    }
    this.#aheadMessages = this.#aheadBytes = 0;
    const settlePull = this.#settlePull;
    this.#settlePull = null;
    settlePull?.();
    return false;
  }

  /** The sink's write(): nothing to wait for when the socket took the message at once. */
  #write(chunk: unknown): Promise<void> | undefined {
    const data = toMessageData(chunk);
    const result = this.#connection!.send(data, (error) => this.#writeDone(error));
    if (result === 'sent') return undefined;
    if (result === 'refused') return Promise.reject(new DOMException('The WebSocket is closing or closed', 'InvalidStateError'));
    return new Promise((resolve, reject) => {
      this.#pendingWrite = { resolve, reject };
    });
  }

  /**
   * The socket wrote the pending message, or failed to. A failed write means the connection is
   * ending: #onEnd rejects it (the socket reports the failed write before the connection its end).
   */
  #writeDone(error: Error | null | undefined): void {
    const pending = this.#pendingWrite;
    if (pending === null || (error && !this.#settled)) return;
    this.#pendingWrite = null;
    if (error) pending.reject(unsentWriteError());
    else pending.resolve();
  }

  /** cancel() and abort(): only a WebSocketError's code and reason go into the Close frame. */
  #closeWithReason(reason: unknown): void {
    if (reason instanceof WebSocketError && reason.closeCode !== null) {
      this.#closeByApplication(reason.closeCode, reason.reason);
    } else {
      this.#closeByApplication(undefined, '');
    }
  }

  #onEnd(end: ConnectionEnd): void {
    if (this.#settled) return;
    this.#settled = true;
    if (end.wasClean) {
      if (!this.#readableDone) {
        this.#readableDone = true;
        this.#readableController?.close();
      }
      if (!this.#writableClosing) this.#errorWritable(new DOMException('The WebSocket is closed', 'InvalidStateError'));
      this.#resolveClosed({ closeCode: end.code, reason: end.reason });
      return;
    }
    const error = WebSocketError.create(describeFailure(end.error), end.code, end.reason, end.error ?? undefined);
    if (!this.#readableDone) {
      this.#readableDone = true;
      this.#readableController?.error(error);
    }
    this.#errorWritable(error);
    this.#closed.catch(ignore);
    this.#rejectClosed(error);
  }

  /**
   * A write still waiting for the socket rejects with InvalidStateError, and the writable errors
   * with that same object (as in Chrome and WPT websockets/stream write.any.js: later writes reject
   * with it). Without one, the writable errors with `error`.
   */
  #errorWritable(error: unknown): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    if (pending !== null) pending.reject(unsentWriteError());
    else this.#writableController?.error(error);
  }

  /**
   * The connection could not be established (refused, non-101 status, bad accept key, close()
   * before the handshake completed...): as in Chrome, `opened` rejects with a WebSocketError whose
   * closeCode is null (there was no connection to close) and `closed` with one whose closeCode is
   * 1006. Both messages say what failed.
   */
  #failHandshake(message: string, cause?: unknown): void {
    this.#fail(WebSocketError.create(message, null, '', cause), WebSocketError.create(message, CloseCode.Abnormal, '', cause));
  }

  /** The connection failed before it opened: both promises reject (with the same reason by default). */
  #fail(openedReason: unknown, closedReason: unknown = openedReason): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#rejectOpened(openedReason);
    this.#closed.catch(ignore);
    this.#rejectClosed(closedReason);
  }
}

/**
 * How far the readable's queue may run past its limit before reading pauses (see #onMessage):
 * messages of at most READ_AHEAD_MESSAGE_BYTES each, up to READ_AHEAD_MESSAGES of them and
 * READ_AHEAD_BYTES in all (UTF-16 code units for text). Like Chrome, which stops reading about
 * 128 KiB past the queue, reading pauses a bounded amount after the queue is full, not at the exact
 * message. The byte budget is one socket read (64 KiB): a read of messages of 1 KiB or more is
 * then usually parsed whole, so its chunk is free for the next read instead of a new one being
 * allocated (socket-reads.ts). Larger messages are never read ahead: the queue holds exactly what
 * its strategy allows.
 */
const READ_AHEAD_MESSAGES = 64;
const READ_AHEAD_BYTES = 64 * 1024;
const READ_AHEAD_MESSAGE_BYTES = 16 * 1024;

function unsentWriteError(): DOMException {
  return new DOMException('The WebSocket closed before the message was sent', 'InvalidStateError');
}

function describeFailure(error: Error | null): string {
  if (error instanceof ProtocolError) {
    return `${error.message} (the connection was failed with close code ${error.closeCode})`;
  }
  return error?.message ?? 'The connection closed abnormally';
}
