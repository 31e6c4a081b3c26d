import { requireArguments, toUnsignedShort, toUSVString } from './webidl.js';

/** The dictionary of `new CloseEvent(type, init)` (WHATWG WebSockets). */
export interface CloseEventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/**
 * The `close` event of a WebSocket: how the connection ended. Node 20 and 22 have no global
 * CloseEvent, so this one stands in for it there.
 */
class CloseEventShim extends Event {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  constructor(type: string, init: CloseEventInit = {}) {
    requireArguments(arguments.length, 1, 'CloseEvent constructor');
    super(type, init);
    this.#wasClean = Boolean(init.wasClean);
    this.#code = init.code === undefined ? 0 : toUnsignedShort(init.code);
    this.#reason = init.reason === undefined ? '' : toUSVString(init.reason);
  }

  /** Whether the closing handshake completed. */
  get wasClean(): boolean {
    return this.#wasClean;
  }

  /** The close code the peer sent (1005 when its Close frame had none, 1006 when none arrived). */
  get code(): number {
    return this.#code;
  }

  /** The reason the peer sent, or "". */
  get reason(): string {
    return this.#reason;
  }
}

Object.defineProperty(CloseEventShim.prototype, Symbol.toStringTag, { value: 'CloseEvent', configurable: true });
Object.defineProperty(CloseEventShim, 'name', { value: 'CloseEvent' });

/**
 * The platform's CloseEvent when there is one (Node 23+), so that `event instanceof CloseEvent`
 * holds with the global class too; our own elsewhere.
 */
export const CloseEvent: typeof CloseEventShim =
  (globalThis as { CloseEvent?: typeof CloseEventShim }).CloseEvent ?? CloseEventShim;
export type CloseEvent = CloseEventShim;
