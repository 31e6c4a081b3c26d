import { isApplicationCloseCode, MAX_CLOSE_REASON_BYTES } from '../protocol/close-codes.js';
import { utf8ByteLength } from '../protocol/utf8-length.js';

export interface WebSocketCloseInfo {
  closeCode?: number;
  reason?: string;
}

/** Lets the library create errors with codes users may not pass (1006 for an abnormal close). */
const internal = Symbol('WebSocketError.internal');

/**
 * The error of a WebSocket connection (WHATWG WebSockets, WebSocketStream draft): a DOMException
 * named "WebSocketError" that carries the close code and reason.
 */
export class WebSocketError extends DOMException {
  readonly #closeCode: number | null;
  readonly #reason: string;

  constructor(message = '', init: WebSocketCloseInfo = {}) {
    super(String(message), 'WebSocketError');
    if ((init as Record<symbol, unknown>)[internal] === true) {
      this.#closeCode = init.closeCode ?? null;
      this.#reason = init.reason ?? '';
      return;
    }
    const { code, reason } = validateCloseInfo(init);
    this.#closeCode = code ?? null;
    this.#reason = reason;
  }

  get closeCode(): number | null {
    return this.#closeCode;
  }

  get reason(): string {
    return this.#reason;
  }

  /**
   * @internal An error with any close code, for the library's own reports. `cause`: the error
   * underneath (a ProtocolError, HandshakeError... whose `code` is its stable identity).
   */
  static create(message: string, closeCode: number | null, reason = '', cause?: unknown): WebSocketError {
    const error = new WebSocketError(message, { closeCode: closeCode ?? undefined, reason, [internal]: true } as WebSocketCloseInfo);
    // As Error's own `cause`: non-enumerable, so inspection and equality see what they saw before.
    if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, writable: true, configurable: true });
    return error;
  }
}

Object.defineProperty(WebSocketError.prototype, Symbol.toStringTag, { value: 'WebSocketError', configurable: true });

type Inspect = (value: unknown, options?: object) => string;

/**
 * util.inspect (console.log) shows closeCode and reason. They are accessors on the prototype (as
 * WebIDL attributes are), which Node does not print, so for the duration of the call they are
 * mirrored as own properties: Node then prints them where it prints an error's own properties,
 * `WebSocketError: message\n    at ... {\n  closeCode: 1006,\n  reason: ''\n}`.
 */
Object.defineProperty(WebSocketError.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  configurable: true,
  writable: true,
  value(this: WebSocketError, _depth: number, options: object, inspect: Inspect): string {
    const plain = { ...options, customInspect: false };
    if (!(this instanceof WebSocketError) || !Object.isExtensible(this)) return inspect(this, plain);
    const mirrored = { configurable: true, enumerable: true, writable: false };
    Object.defineProperty(this, 'closeCode', { ...mirrored, value: this.closeCode });
    Object.defineProperty(this, 'reason', { ...mirrored, value: this.reason });
    try {
      return inspect(this, plain);
    } finally {
      delete (this as { closeCode?: unknown }).closeCode;
      delete (this as { reason?: unknown }).reason;
    }
  },
});

/**
 * The close({ closeCode, reason }) rules shared by WebSocketStream.close() and new WebSocketError():
 * closeCode is an [EnforceRange] unsigned short that must be 1000 or 3000-4999 (InvalidAccessError);
 * reason is at most 123 UTF-8 bytes (SyntaxError); a reason without a code means 1000.
 */
export function validateCloseInfo(init: unknown): { code: number | undefined; reason: string } {
  if (init === undefined || init === null) return { code: undefined, reason: '' };
  if (typeof init !== 'object' && typeof init !== 'function') {
    throw new TypeError('The close options must be an object');
  }
  const { closeCode, reason } = init as WebSocketCloseInfo;
  let code: number | undefined;
  if (closeCode !== undefined) {
    code = enforceUnsignedShort(closeCode, 'closeCode');
    checkCloseCode(code);
  }
  const reasonText = reason === undefined ? '' : toUSVString(reason);
  checkCloseReason(reasonText);
  if (code === undefined && reasonText.length > 0) code = 1000;
  return { code, reason: reasonText };
}

/**
 * The close code an application may send (both close() methods, after their own WebIDL
 * conversion): 1000 or 3000-4999, else an InvalidAccessError.
 */
export function checkCloseCode(code: number): void {
  if (!isApplicationCloseCode(code)) {
    throw new DOMException(`The close code must be 1000 or in 3000-4999; got ${code}`, 'InvalidAccessError');
  }
}

/** The close reason an application may send: at most 123 UTF-8 bytes, else a SyntaxError. */
export function checkCloseReason(reason: string): void {
  if (utf8ByteLength(reason) > MAX_CLOSE_REASON_BYTES) {
    throw new DOMException(`The close reason must be at most ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes`, 'SyntaxError');
  }
}

/** WebIDL [EnforceRange] unsigned short. */
function enforceUnsignedShort(value: unknown, name: string): number {
  const number = Number(value);
  if (!Number.isFinite(number)) throw new TypeError(`${name} must be a finite number`);
  const integer = Math.trunc(number);
  if (integer < 0 || integer > 0xffff) throw new TypeError(`${name} is outside the unsigned short range`);
  return integer;
}

/**
 * WebIDL: a call with fewer arguments than the operation requires is a TypeError, before any
 * argument is converted (`new WebSocketStream()` is not a URL error about "undefined").
 */
export function requireArguments(given: number, required: number, what: string): void {
  if (given < required) {
    throw new TypeError(`${what}: ${required} argument${required === 1 ? '' : 's'} required, but only ${given} present`);
  }
}

/** WebIDL USVString: lone surrogates become U+FFFD. */
export function toUSVString(value: unknown): string {
  return String(value).toWellFormed();
}
