/**
 * The runtime's MessageEvent constructor converts its init dictionary through WebIDL on every
 * call. With undici's MessageEvent (Node 22 and later) that costs about 1.4 µs, thirteen times a
 * plain Event and more than the rest of receiving a small message; Node's own WebSocket avoids it
 * through a constructor that only undici can reach. So the message events of our WebSocket are
 * made as a plain Event whose prototype chain runs through MessageEvent.prototype: `instanceof
 * MessageEvent` holds, and `data`, `origin`, `lastEventId`, `source` and `ports` are their own
 * read-only getters. (`initMessageEvent`, the legacy initializer, is not supported on them.)
 */
const NO_PORTS: MessageEvent['ports'] = Object.freeze([]);

class WebSocketMessageEvent extends Event {
  readonly #data: unknown;
  readonly #origin: string;

  constructor(data: unknown, origin: string) {
    super('message');
    this.#data = data;
    this.#origin = origin;
  }

  get data(): unknown {
    return this.#data;
  }

  get origin(): string {
    return this.#origin;
  }

  get lastEventId(): string {
    return '';
  }

  get source(): null {
    return null;
  }

  get ports(): MessageEvent['ports'] {
    return NO_PORTS;
  }
}

if (typeof MessageEvent === 'function') Object.setPrototypeOf(WebSocketMessageEvent.prototype, MessageEvent.prototype);
Object.defineProperty(WebSocketMessageEvent, 'name', { value: 'MessageEvent' });

/** A `message` event carrying `data`, from a connection to `origin`. */
export function createMessageEvent(data: string | ArrayBuffer | Blob, origin: string): MessageEvent {
  return new WebSocketMessageEvent(data, origin) as unknown as MessageEvent;
}
