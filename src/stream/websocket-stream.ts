import type { UnderlyingSink, UnderlyingSource } from 'node:stream/web';
import { CloseCode } from '../protocol/close-codes.js';
import { ProtocolError } from '../protocol/protocol-error.js';
import { openClientSocket, type OpenedSocket } from '../transport/client-handshake.js';
import { Connection, type ConnectionEnd, type ConnectionHandler, type Role } from '../transport/connection.js';
import { resolveOptions, type ResolvedOptions, type WebSocketStreamOptions } from './options.js';
import { toUSVString, validateCloseInfo, WebSocketError, type WebSocketCloseInfo } from './websocket-error.js';

/** What `opened` resolves to. */
export interface WebSocketOpenInfo {
  readable: ReadableStream<string | Uint8Array | ArrayBuffer>;
  writable: WritableStream<unknown>;
  /** The subprotocol the server selected, or "". */
  protocol: string;
  /** The extensions the server agreed to, or "". */
  extensions: string;
}

/** What `closed` resolves to after a clean close. */
export interface WebSocketClosedInfo {
  closeCode: number;
  reason: string;
}

/** Settles a write that waited: with the error that kept it from being sent, if any. */
type WriteSettler = (error?: Error | null) => void;

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
 * The readable's underlying source (also the connection's handler) and the writable's sink, defined
 * in WebSocketStream's static block. The streams keep them, and the connection its handler, as
 * long as the connection lives: objects whose methods are shared cost a few words each, where
 * arrow functions cost about 0.7 KiB per connection.
 */
/** @internal The stream's connection (null before it opens), for Node extensions such as sendPing(). */
export let connectionOf: (wss: WebSocketStream) => Connection | null;
let ReadableSource: new (wss: WebSocketStream) => UnderlyingSource<Chunk> & ConnectionHandler;
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
  /** Settles the readable's pending pull(): reading paused, the next read() may call pull() again. */
  #settlePull: (() => void) | null = null;
  /** Rejections of writes the socket failed, run by #onEnd once the writable has its error. */
  #failedWrites: Array<() => void> = [];

  constructor(url: string | URL, options?: WebSocketStreamOptions) {
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
    // Browsers only log an unawaited rejection; in Node it would crash the process. A shared
    // handler: a closure would keep this constructor's scope (the handshake signal) alive. `closed`
    // gets its handler when it rejects: attached now, it would hold a reaction and a promise for
    // as long as the connection lives.
    this.#opened.catch(ignore);

    const { signal } = this.#options;
    if (signal?.aborted) {
      this.#fail(signal.reason);
      return;
    }
    const handshakeSignal = signal ? AbortSignal.any([signal, this.#handshakeAbort!.signal]) : this.#handshakeAbort!.signal;
    const open = internal[kOpen] ?? ((s: AbortSignal) => openClientSocket(new URL(this.#url), {
      protocols: this.#options.protocols,
      headers: this.#options.headers,
      tls: this.#options.tls,
      handshakeTimeout: this.#options.handshakeTimeout,
      signal: s,
      deflate: this.#options.deflate,
    }));
    open(handshakeSignal).then(
      (opened) => this.#onOpen(opened),
      (error: unknown) => {
        const aborted = handshakeSignal.aborted && error === handshakeSignal.reason;
        this.#fail(aborted ? error : WebSocketError.create((error as Error).message, CloseCode.Abnormal));
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
   * most 123 UTF-8 bytes. Calling it again does nothing.
   */
  close(closeInfo?: WebSocketCloseInfo): void {
    const { code, reason } = validateCloseInfo(closeInfo);
    if (this.#settled) return;
    const connection = this.#connection;
    if (connection === null) {
      this.#handshakeAbort?.abort(WebSocketError.create('WebSocket was closed before the connection was established', CloseCode.Abnormal));
      return;
    }
    this.#closeByApplication(code, reason);
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

  #onOpen({ socket, head, protocol, extensions, deflate, reads }: OpenedSocket): void {
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
    // Held for the connection's lifetime otherwise: the AbortSignal alone is about 0.4 KiB.
    this.#handshakeAbort = null;
    this.#attach?.(connection);
    this.#attach = undefined;

    const readable = new ReadableStream<Chunk>(source, this.#options.readableStrategy);
    const writable = new WritableStream<unknown>(new WritableSink(this), this.#options.writableStrategy);

    this.#resolveOpened({ readable, writable, protocol, extensions });
    // The resolving functions and the context they share are garbage once used.
    this.#resolveOpened = this.#rejectOpened = ignore;
  }

  static {
    // In here to reach the private members.
    connectionOf = (wss) => wss.#connection;
    ReadableSource = class implements UnderlyingSource<Chunk>, ConnectionHandler {
      constructor(private readonly wss: WebSocketStream) {}

      start(controller: ReadableStreamDefaultController<Chunk>): void {
        this.wss.#readableController = controller;
      }

      // pull() stays pending while the socket flows, and settles when reading pauses for lack of
      // demand (#onMessage). While it is pending the streams machinery does not call it again;
      // otherwise it would after every enqueue: a call, a promise and a microtask per message.
      pull(): Promise<void> {
        return new Promise<void>((resolve) => {
          this.wss.#settlePull = resolve;
          this.wss.#connection!.resume();
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
    const controller = this.#readableController!;
    if (this.#readableDone) return true;
    const chunk = typeof data === 'string' || this.#options.binaryType === 'uint8array' ? data : data.buffer as ArrayBuffer;
    if (this.#closeRequested) {
      // close() was called: deliver what fits, never stall the closing handshake.
      if ((controller.desiredSize ?? 0) > 0) controller.enqueue(chunk);
      return true;
    }
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) > 0) return true;
    const settlePull = this.#settlePull;
    this.#settlePull = null;
    settlePull?.();
    return false;
  }

  /** The sink's write(): nothing to wait for when the socket took the message at once. */
  #write(chunk: unknown): Promise<void> | undefined {
    const data = toMessageData(chunk);
    let settle: WriteSettler | null = null;
    const result = this.#connection!.send(data, (error) => settle!(error));
    if (result === 'sent') return undefined;
    if (result === 'refused') return Promise.reject(new DOMException('The WebSocket is closing or closed', 'InvalidStateError'));
    return new Promise((resolve, reject) => {
      settle = (error) => {
        if (!error) {
          resolve();
          return;
        }
        const fail = (): void => reject(new DOMException('The WebSocket closed before the message was sent', 'InvalidStateError'));
        // The socket reports the failed write before the connection reports its end. Rejecting now
        // would error the writable with this InvalidStateError, and writer.ready would not reject
        // with the WebSocketError that closed and the readable get. So wait for #onEnd to error
        // the writable first; the write itself still rejects with InvalidStateError.
        if (this.#settled) fail();
        else this.#failedWrites.push(fail);
      };
    });
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
    this.#settle(end);
    for (const fail of this.#failedWrites.splice(0)) fail();
  }

  #settle(end: ConnectionEnd): void {
    if (end.wasClean) {
      if (!this.#readableDone) {
        this.#readableDone = true;
        this.#readableController?.close();
      }
      if (!this.#writableClosing) {
        this.#writableController?.error(new DOMException('The WebSocket is closed', 'InvalidStateError'));
      }
      this.#resolveClosed({ closeCode: end.code, reason: end.reason });
      return;
    }
    const error = WebSocketError.create(describeFailure(end.error), end.code);
    if (!this.#readableDone) {
      this.#readableDone = true;
      this.#readableController?.error(error);
    }
    this.#writableController?.error(error);
    this.#closed.catch(ignore);
    this.#rejectClosed(error);
  }

  /** The connection failed before it opened: both promises reject with the same reason. */
  #fail(reason: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#rejectOpened(reason);
    this.#closed.catch(ignore);
    this.#rejectClosed(reason);
  }
}

function ignore(): void {}

function describeFailure(error: Error | null): string {
  if (error instanceof ProtocolError) {
    return `${error.message} (the connection was failed with close code ${error.closeCode})`;
  }
  return error?.message ?? 'The connection closed abnormally';
}

/**
 * Buffers and views are sent as binary (copied when framed); a resizable or shared buffer is a
 * TypeError, as in the draft. Anything else is converted to a string and sent as text.
 */
function toMessageData(chunk: unknown): string | Uint8Array {
  if (chunk instanceof ArrayBuffer) {
    if ((chunk as ArrayBuffer & { resizable?: boolean }).resizable) throw new TypeError('Resizable ArrayBuffers cannot be sent');
    return new Uint8Array(chunk);
  }
  if (ArrayBuffer.isView(chunk)) {
    const buffer = chunk.buffer as ArrayBufferLike & { resizable?: boolean; growable?: boolean };
    if (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) {
      throw new TypeError('Views on a SharedArrayBuffer cannot be sent');
    }
    if (buffer.resizable) throw new TypeError('Views on a resizable ArrayBuffer cannot be sent');
    return new Uint8Array(buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (typeof SharedArrayBuffer !== 'undefined' && chunk instanceof SharedArrayBuffer) {
    throw new TypeError('SharedArrayBuffers cannot be sent');
  }
  return toUSVString(chunk);
}

/**
 * The URL rules of the WebSocket constructors: absolute URL, http(s) mapped to ws(s), any other
 * scheme or a fragment is a SyntaxError.
 */
export function parseWebSocketUrl(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw new DOMException(`Invalid URL: ${String(input)}`, 'SyntaxError');
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new DOMException(`The URL's scheme must be ws, wss, http or https; got ${url.protocol}`, 'SyntaxError');
  }
  if (url.hash !== '' || url.href.endsWith('#')) {
    throw new DOMException('The URL must not contain a fragment', 'SyntaxError');
  }
  return url;
}
