import { parseWebSocketUrl, toMessageData } from '../stream/conversions.js';
import { toUSVString, validateCloseInfo, WebSocketError, type WebSocketCloseInfo } from '../stream/websocket-error.js';
import { ignore } from '../protocol/ignore.js';

/*
 * WebSocketStream for browsers without one (Firefox, Safari, Chromium before 124), built on the
 * browser's own WebSocket. Same API and the same close and error semantics as the native one and
 * as ours on Node, with two differences the classic WebSocket imposes:
 * - no read backpressure: the browser delivers every message as it arrives, so each goes straight
 *   into the readable's queue (nothing else holds it; a reader that stops reading lets that queue
 *   grow, as the browser's WebSocket would);
 * - write backpressure comes from bufferedAmount: a write resolves once the browser holds at most
 *   WRITE_LOW_WATER_MARK bytes it has not sent yet, as far as the browser tells.
 * No Node module is reachable from here (test/browser/ checks the built file).
 */

/** A write resolves once the browser's unsent data (bufferedAmount) is at most this many bytes. */
export const WRITE_LOW_WATER_MARK = 64 * 1024;
/** Longest wait between two looks at bufferedAmount (the browser has no event for it). */
const MAX_POLL_MS = 50;

/** What this file uses of the browser's WebSocket (the DOM types are not in this project's lib). */
interface BrowserWebSocket extends EventTarget {
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly protocol: string;
  readonly extensions: string;
  binaryType: string;
  send(data: string | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}
interface BrowserCloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}
interface BrowserMessageEvent extends Event {
  readonly data: string | ArrayBuffer;
}
type BrowserWebSocketConstructor = new (url: string, protocols: string[]) => BrowserWebSocket;

const OPEN = 1;

/** The standard options of `new WebSocketStream(url, options)`. */
export interface WebSocketStreamOptions {
  protocols?: string[];
  signal?: AbortSignal;
}

/** What `opened` resolves to. */
export interface WebSocketOpenInfo {
  readable: ReadableStream<string | Uint8Array>;
  writable: WritableStream<unknown>;
  protocol: string;
  extensions: string;
}

/** What `closed` resolves to after a clean close. */
export interface WebSocketClosedInfo {
  closeCode: number;
  reason: string;
}

type Chunk = string | Uint8Array;

/** A write that waits for the browser's buffer to drain. */
interface PendingWrite {
  resolve(): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

export class WebSocketStream {
  readonly #url: string;
  readonly #opened: Promise<WebSocketOpenInfo>;
  readonly #closed: Promise<WebSocketClosedInfo>;
  #resolveOpened!: (info: WebSocketOpenInfo) => void;
  #rejectOpened!: (reason: unknown) => void;
  #resolveClosed!: (info: WebSocketClosedInfo) => void;
  #rejectClosed!: (reason: unknown) => void;

  #ws: BrowserWebSocket | null = null;
  #state: 'connecting' | 'open' | 'settled' = 'connecting';
  #readableController: ReadableStreamDefaultController<Chunk> | null = null;
  #writableController: WritableStreamDefaultController | null = null;
  /** close() or abort(): messages that no longer fit the queue are dropped, the handshake never waits. */
  #closeRequested = false;
  /** writer.close() is waiting for the closing handshake. */
  #writableClosing = false;
  #readableDone = false;
  #pendingWrite: PendingWrite | null = null;

  constructor(url: string | URL, options?: WebSocketStreamOptions) {
    if (arguments.length === 0) throw new TypeError('WebSocketStream needs a URL');
    if (options !== undefined && options !== null && typeof options !== 'object') {
      throw new TypeError('The WebSocketStream options must be an object');
    }
    const { protocols = [], signal } = options ?? {};
    if (typeof protocols === 'string' || typeof (protocols as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new TypeError('protocols must be a sequence of strings');
    }
    const protocolList = Array.from(protocols as Iterable<unknown>, toUSVString);
    this.#url = parseWebSocketUrl(url, (globalThis as { location?: { href: string } }).location?.href).href;
    this.#opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    this.#closed = new Promise((resolve, reject) => {
      this.#resolveClosed = resolve;
      this.#rejectClosed = reject;
    });
    // As ours on Node: an application that never awaits these gets no unhandled rejection.
    this.#opened.catch(ignore);
    this.#closed.catch(ignore);

    if (signal?.aborted) {
      this.#fail(signal.reason);
      return;
    }
    // The browser checks the protocols (SyntaxError) and opens the connection.
    const ws = new (globalThis as unknown as { WebSocket: BrowserWebSocketConstructor }).WebSocket(this.#url, protocolList);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.addEventListener('open', () => this.#onOpen());
    ws.addEventListener('message', (event) => this.#onMessage((event as BrowserMessageEvent).data));
    ws.addEventListener('close', (event) => this.#onClose(event as BrowserCloseEvent));
    signal?.addEventListener('abort', () => {
      if (this.#state !== 'connecting') return;
      this.#fail(signal.reason);
      ws.close();
    }, { once: true });
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

  /** Starts the closing handshake (or abandons the opening one). Calling it again does nothing. */
  close(closeInfo?: WebSocketCloseInfo): void {
    const { code, reason } = validateCloseInfo(closeInfo);
    if (this.#state === 'settled') return;
    if (this.#state === 'connecting') {
      this.#failHandshake('WebSocket was closed before the connection was established');
      this.#ws?.close();
      return;
    }
    this.#closeByApplication(code, reason);
  }

  #closeByApplication(code: number | undefined, reason: string): void {
    if (this.#closeRequested) return;
    this.#closeRequested = true;
    if (code === undefined) this.#ws!.close();
    else this.#ws!.close(code, reason);
  }

  /** cancel() and abort(): only a WebSocketError's code and reason go into the Close frame. */
  #closeWithReason(reason: unknown): void {
    if (reason instanceof WebSocketError && reason.closeCode !== null) this.#closeByApplication(reason.closeCode, reason.reason);
    else this.#closeByApplication(undefined, '');
  }

  #onOpen(): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'open';
    const ws = this.#ws!;
    // No pull(): the browser pushes every message; the queue's size is only what the reader lags.
    const readable = new ReadableStream<Chunk>({
      start: (controller) => {
        this.#readableController = controller;
      },
      cancel: (reason) => {
        this.#readableDone = true;
        this.#closeWithReason(reason);
      },
    });
    const writable = new WritableStream<unknown>({
      start: (controller) => {
        this.#writableController = controller;
      },
      write: (chunk) => this.#write(chunk),
      close: () => {
        this.#writableClosing = true;
        ws.close();
        return this.#closed.then(ignore);
      },
      abort: (reason) => this.#closeWithReason(reason),
    });
    this.#resolveOpened({ readable, writable, protocol: ws.protocol, extensions: ws.extensions });
  }

  #onMessage(data: string | ArrayBuffer): void {
    const controller = this.#readableController;
    if (this.#readableDone || controller === null) return;
    // After close() nothing may hold the closing handshake up: keep what fits, drop the rest.
    if (this.#closeRequested && (controller.desiredSize ?? 0) <= 0) return;
    controller.enqueue(typeof data === 'string' ? data : new Uint8Array(data));
  }

  /** Sends at once; waits only while the browser holds more than the low-water mark. */
  #write(chunk: unknown): Promise<void> | undefined {
    const ws = this.#ws!;
    const data = toMessageData(chunk);
    if (ws.readyState !== OPEN) return Promise.reject(new DOMException('The WebSocket is closing or closed', 'InvalidStateError'));
    ws.send(data);
    if (ws.bufferedAmount <= WRITE_LOW_WATER_MARK) return undefined;
    return new Promise((resolve, reject) => {
      let delay = 1;
      const check = (): void => {
        if (ws.bufferedAmount <= WRITE_LOW_WATER_MARK) {
          this.#pendingWrite = null;
          resolve();
          return;
        }
        delay = Math.min(delay * 2, MAX_POLL_MS);
        pending.timer = setTimeout(check, delay);
      };
      const pending: PendingWrite = { resolve, reject, timer: setTimeout(check, delay) };
      this.#pendingWrite = pending;
    });
  }

  #onClose(event: BrowserCloseEvent): void {
    if (this.#state === 'settled') return;
    if (this.#state === 'connecting') {
      // The browser tells nothing of why (refused, wrong status, no subprotocol match...).
      this.#failHandshake('The WebSocket connection could not be established');
      return;
    }
    this.#state = 'settled';
    let pending = this.#pendingWrite;
    this.#pendingWrite = null;
    if (pending) {
      clearTimeout(pending.timer);
      // Left between two looks at bufferedAmount: that write is done.
      if (this.#ws!.bufferedAmount <= WRITE_LOW_WATER_MARK) {
        pending.resolve();
        pending = null;
      }
    }
    // Data still unsent when the peer closed is not a clean close (the draft's remote-close rule).
    if (event.wasClean && pending === null) {
      if (!this.#readableDone) this.#readableController?.close();
      if (!this.#writableClosing) this.#writableController?.error(new DOMException('The WebSocket is closed', 'InvalidStateError'));
      this.#resolveClosed({ closeCode: event.code, reason: event.reason });
    } else {
      const error = WebSocketError.create(
        event.wasClean ? 'The WebSocket closed with data not yet sent' : 'The connection closed abnormally',
        event.code,
        event.reason,
      );
      if (!this.#readableDone) this.#readableController?.error(error);
      this.#writableController?.error(error);
      this.#rejectClosed(error);
    }
    this.#readableDone = true;
    // After the writable has its error, so that writer.ready rejects with the WebSocketError.
    pending?.reject(new DOMException('The WebSocket closed before the message was sent', 'InvalidStateError'));
  }

  /** As Chrome and the draft: `opened` rejects with no close code, `closed` with 1006. */
  #failHandshake(message: string): void {
    this.#state = 'settled';
    this.#rejectOpened(WebSocketError.create(message, null));
    this.#rejectClosed(WebSocketError.create(message, 1006));
  }

  /** The connection failed before it opened: both promises reject with the same reason. */
  #fail(reason: unknown): void {
    if (this.#state === 'settled') return;
    this.#state = 'settled';
    this.#rejectOpened(reason);
    this.#rejectClosed(reason);
  }
}
