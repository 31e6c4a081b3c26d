import { toMessageData } from '../stream/conversions.js';
import type { WebSocketStreamOptions } from '../stream/options.js';
import { checkCloseCode, checkCloseReason, WebSocketError, type WebSocketCloseInfo } from '../stream/websocket-error.js';
import { deliverMessagesTo, WebSocketStream } from '../stream/websocket-stream.js';
import { CloseEvent } from './close-event.js';
import { createMessageEvent } from './message-event.js';
import { Outgoing } from './outgoing.js';
import { requireArguments, toClampedUnsignedShort, toProtocolList, toUSVString } from './webidl.js';

/**
 * Node extensions accepted as the third argument of `new WebSocket(url, protocols, options)`: the
 * connection options of WebSocketStream. Subprotocols go in the second argument; the adapter
 * chooses the queues and the chunk type itself.
 */
export type WebSocketOptions = Omit<WebSocketStreamOptions, (typeof ADAPTER_OWNED_OPTIONS)[number]>;

export type BinaryType = 'blob' | 'arraybuffer';

type Handler<E extends Event = Event> = ((this: WebSocket, event: E) => unknown) | null;

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

const ADAPTER_OWNED_OPTIONS = ['protocols', 'signal', 'binaryType', 'readableStrategy', 'writableStrategy'] as const;

/**
 * The options that make a WebSocketStream suit this adapter (also for one accepted by a server).
 * The adapter takes messages straight from the connection (deliverMessagesTo) and never reads the
 * readable; a high-water mark of 0 keeps the readable from starting the reading itself.
 */
export const ADAPTER_STREAM_OPTIONS = {
  binaryType: 'arraybuffer',
  readableStrategy: new CountQueuingStrategy({ highWaterMark: 0 }),
} as const satisfies WebSocketStreamOptions;

/** Lets wrapWebSocketStream() hand an existing stream to the constructor. */
const kStream = Symbol('websocketstream.classic.stream');

/**
 * The classic, event-based WebSocket of the WHATWG WebSockets Standard, as a thin adapter over
 * WebSocketStream: received messages come from a read loop on the readable, send() goes through
 * a writer. It has no read backpressure, by the nature of the API; use WebSocketStream for that.
 */
export class WebSocket extends EventTarget {
  declare static readonly CONNECTING: 0;
  declare static readonly OPEN: 1;
  declare static readonly CLOSING: 2;
  declare static readonly CLOSED: 3;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  readonly #stream: WebSocketStream;
  readonly #url: string;
  /** The origin given to every MessageEvent: the serialization of the URL's origin. */
  readonly #origin: string;
  #readyState: number = CONNECTING;
  #protocol = '';
  #extensions = '';
  #binaryType: BinaryType = 'blob';
  #outgoing: Outgoing | null = null;
  /** Bytes sent before the connection had a writer (only possible after close() while connecting). */
  #unsentBeforeOpen = 0;
  /** close() was called while connecting: the standard fails the connection. */
  #failedByClose = false;
  readonly #handlers = new Map<string, { callback: Handler<never>; listener: (event: Event) => void }>();

  constructor(url: string | URL, protocols?: string | string[], options?: WebSocketOptions) {
    super();
    requireArguments(arguments.length, 1, 'WebSocket constructor');
    const adopted = (options as { [kStream]?: WebSocketStream } | undefined)?.[kStream];
    this.#stream = adopted ?? new WebSocketStream(url, {
      ...nodeOptions(options),
      protocols: toProtocolList(protocols),
      ...ADAPTER_STREAM_OPTIONS,
    });
    this.#url = this.#stream.url;
    this.#origin = new URL(this.#url).origin;
    void this.#run();
  }

  get url(): string {
    return this.#url;
  }

  get readyState(): number {
    return this.#readyState;
  }

  /** Bytes of application data passed to send() and not yet written to the socket. */
  get bufferedAmount(): number {
    return (this.#outgoing?.bufferedAmount ?? 0) + this.#unsentBeforeOpen;
  }

  /** The extensions the server accepted, or "" (none before the connection opens). */
  get extensions(): string {
    return this.#extensions;
  }

  /** The subprotocol the server selected, or "". */
  get protocol(): string {
    return this.#protocol;
  }

  /** How binary messages are delivered: "blob" (the default) or "arraybuffer". */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // An enumeration attribute ignores values outside the enumeration (WebIDL), no exception.
    const type = String(value);
    if (type === 'blob' || type === 'arraybuffer') this.#binaryType = type;
  }

  get onopen(): Handler {
    return this.#getHandler('open');
  }

  set onopen(callback: Handler) {
    this.#setHandler('open', callback);
  }

  get onmessage(): Handler<MessageEvent> {
    return this.#getHandler('message');
  }

  set onmessage(callback: Handler<MessageEvent>) {
    this.#setHandler('message', callback);
  }

  get onerror(): Handler {
    return this.#getHandler('error');
  }

  set onerror(callback: Handler) {
    this.#setHandler('error', callback);
  }

  get onclose(): Handler<CloseEvent> {
    return this.#getHandler('close');
  }

  set onclose(callback: Handler<CloseEvent>) {
    this.#setHandler('close', callback);
  }

  /**
   * Queues a message: a string is sent as text, an ArrayBuffer, a view or a Blob as binary.
   * Throws InvalidStateError while connecting; once closing has started it only counts the bytes
   * in bufferedAmount, as the standard says.
   */
  send(data: string | ArrayBuffer | ArrayBufferView | Blob): void {
    if (arguments.length === 0) throw new TypeError('send() needs a message');
    const message = toMessage(data);
    if (this.#readyState === CONNECTING) {
      throw new DOMException('The WebSocket is still connecting', 'InvalidStateError');
    }
    const size = typeof message === 'string' ? Buffer.byteLength(message, 'utf8')
      : message instanceof Blob ? message.size : message.byteLength;
    const outgoing = this.#outgoing;
    if (this.#readyState !== OPEN || outgoing === null) {
      if (outgoing === null) this.#unsentBeforeOpen += size;
      else outgoing.addUnsent(size);
      return;
    }
    outgoing.send(message, size);
  }

  /**
   * Starts the closing handshake, or fails a connection still being established. Code 1000 or
   * 3000-4999 (InvalidAccessError), reason at most 123 UTF-8 bytes (SyntaxError).
   */
  close(code?: number, reason?: string): void {
    const closeCode = code === undefined ? undefined : toClampedUnsignedShort(code);
    if (closeCode !== undefined) checkCloseCode(closeCode);
    const closeReason = reason === undefined ? undefined : toUSVString(reason);
    if (closeReason !== undefined) checkCloseReason(closeReason);
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      this.#failedByClose = true;
      this.#readyState = CLOSING;
      this.#stream.close();
      return;
    }
    this.#readyState = CLOSING;
    // "If code is null and reason is not, set code to 1000": close(undefined, "") still sends 1000.
    const info: WebSocketCloseInfo | undefined = closeCode === undefined && closeReason === undefined
      ? undefined
      : { closeCode: closeCode ?? 1000, reason: closeReason ?? '' };
    // Messages sent before close() leave before the Close frame: wait for the ones still queued.
    const flushed = this.#outgoing?.whenFlushed() ?? null;
    if (flushed === null) this.#stream.close(info);
    else void flushed.then(() => this.#stream.close(info));
  }

  /**
   * The whole life of the connection, in order: open, messages, then error and close. Every event
   * is dispatched from here, after an await, so always asynchronously and never out of order.
   */
  async #run(): Promise<void> {
    const stream = this.#stream;
    let info;
    try {
      info = await stream.opened;
    } catch {
      this.#end(false, 1006, '', true);
      return;
    }
    if (this.#readyState === CONNECTING) {
      this.#readyState = OPEN;
      this.#protocol = info.protocol;
      this.#extensions = info.extensions;
      this.#outgoing = new Outgoing(info.writable.getWriter(), () => this.close());
      this.dispatchEvent(new Event('open'));
    }
    // Messages come straight from the connection, in order, from now on: the classic API has no
    // read backpressure, so a reader's promise per message would only cost time. Reading goes on
    // after close(), since the peer's Close frame comes behind its last messages.
    deliverMessagesTo(stream, (data) => {
      // "If ready state is not OPEN, then return": messages after close() are dropped.
      if (this.#readyState === OPEN) this.#dispatchMessage(data);
    });
    try {
      const { closeCode, reason } = await stream.closed;
      if (this.#failedByClose) this.#end(false, 1006, '', true);
      else this.#end(true, closeCode, reason, false);
    } catch (error) {
      const peerClose = peerCloseOf(error);
      if (peerClose !== null) {
        // The peer's Close was read, then the end went wrong (TCP reset before our Close left, a
        // message of ours cut short): not clean, but "the WebSocket connection close code" is the
        // peer's (RFC 6455 7.1.5), and the peer ended it, so it is not a failure (no error event).
        this.#end(false, peerClose.closeCode, peerClose.reason, false);
        return;
      }
      // Handshake failure, transport loss, protocol violation: the standard fails the
      // connection, which fires error before close (RFC 6455 7.2.1: a transport "unexpectedly
      // lost" means the client "MUST _Fail the WebSocket Connection_").
      this.#end(false, 1006, '', true);
    }
  }

  #dispatchMessage(chunk: string | Uint8Array): void {
    let data: string | ArrayBuffer | Blob;
    if (typeof chunk === 'string') {
      data = chunk;
    } else {
      // binaryType is read when the event is dispatched, so a change applies to the next message.
      const buffer = exactArrayBuffer(chunk);
      data = this.#binaryType === 'blob' ? new Blob([buffer]) : buffer;
    }
    this.dispatchEvent(createMessageEvent(data, this.#origin));
  }

  /** "When the WebSocket connection is closed": CLOSED first, then error if it failed, then close. */
  #end(wasClean: boolean, code: number, reason: string, failed: boolean): void {
    this.#readyState = CLOSED;
    if (failed) this.dispatchEvent(new Event('error'));
    this.dispatchEvent(new CloseEvent('close', { wasClean, code, reason }));
  }

  #getHandler<E extends Event>(type: string): Handler<E> {
    return (this.#handlers.get(type)?.callback ?? null) as Handler<E>;
  }

  /**
   * Event handler attributes: the first callback adds a listener that keeps its place among the
   * others when the callback is replaced; null (or a non-function) removes it.
   */
  #setHandler(type: string, callback: unknown): void {
    const existing = this.#handlers.get(type);
    if (typeof callback !== 'function') {
      if (existing !== undefined) {
        this.removeEventListener(type, existing.listener);
        this.#handlers.delete(type);
      }
      return;
    }
    if (existing !== undefined) {
      existing.callback = callback as Handler<never>;
      return;
    }
    const entry = {
      callback: callback as Handler<never>,
      listener: (event: Event): void => {
        (entry.callback as Handler)?.call(this, event);
      },
    };
    this.#handlers.set(type, entry);
    this.addEventListener(type, entry.listener);
  }
}

const constants = {
  CONNECTING: { value: CONNECTING, enumerable: true },
  OPEN: { value: OPEN, enumerable: true },
  CLOSING: { value: CLOSING, enumerable: true },
  CLOSED: { value: CLOSED, enumerable: true },
} as const;
// WebIDL constants: read-only properties of both the interface object and its prototype.
Object.defineProperties(WebSocket, constants);
Object.defineProperties(WebSocket.prototype, constants);
Object.defineProperty(WebSocket.prototype, Symbol.toStringTag, { value: 'WebSocket', configurable: true });

/**
 * Wraps an existing WebSocketStream (for example one accepted by a server) in the classic API.
 * The stream must not have been read or written yet. Create it with ADAPTER_STREAM_OPTIONS so
 * that reading does not pause the socket between messages.
 */
export function wrapWebSocketStream(stream: WebSocketStream): WebSocket {
  return new WebSocket(stream.url, undefined, { [kStream]: stream } as WebSocketOptions);
}

/** The Node options of the third argument; the ones the adapter owns are a TypeError. */
function nodeOptions(options: unknown): WebSocketOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new TypeError('WebSocket options must be an object');
  for (const name of ADAPTER_OWNED_OPTIONS) {
    if ((options as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(name === 'protocols'
        ? 'Pass subprotocols as the second argument of new WebSocket()'
        : `The ${name} option is not available on WebSocket; use WebSocketStream for it`);
    }
  }
  return options as WebSocketOptions;
}

/**
 * send()'s argument as WebIDL converts `(BufferSource or Blob or USVString)`: a Blob as it is, the
 * rest by WebSocketStream's rules (shared and resizable buffers are TypeErrors), with buffers and
 * views copied now, since the caller may reuse them before the write happens.
 */
function toMessage(data: unknown): string | Uint8Array | Blob {
  if (data instanceof Blob) return data;
  const message = toMessageData(data);
  return typeof message === 'string' ? message : message.slice();
}

/** The stream's Uint8Array chunks own their buffer exactly; copy only if one does not. */
function exactArrayBuffer(chunk: Uint8Array): ArrayBuffer {
  if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer) {
    return chunk.buffer;
  }
  return chunk.slice().buffer as ArrayBuffer;
}

/**
 * The code and reason of the peer's Close frame carried by an unclean end's WebSocketError, or
 * null when none was read (1006: the stream reports a failed or lost connection with that code).
 */
function peerCloseOf(error: unknown): { closeCode: number; reason: string } | null {
  if (!(error instanceof WebSocketError) || error.closeCode === null || error.closeCode === 1006) return null;
  return { closeCode: error.closeCode, reason: error.reason };
}
