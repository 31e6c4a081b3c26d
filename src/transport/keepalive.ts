import type { Duplex } from 'node:stream';
import type { Connection } from './connection.js';

export interface KeepaliveOptions {
  /** Milliseconds between pings. */
  interval: number;
  /** Milliseconds of *reading time* the peer has to send anything after a ping. */
  timeout: number;
}

/**
 * keepaliveInterval and keepaliveTimeout (both already checked to be positive numbers) as the
 * settings of a Keepalive, or null when off. The timeout defaults to the interval.
 */
export function keepaliveSettings(interval: number | undefined, timeout: number | undefined): KeepaliveOptions | null {
  if (timeout !== undefined && interval === undefined) throw new TypeError('keepaliveTimeout needs keepaliveInterval');
  return interval === undefined ? null : { interval, timeout: timeout ?? interval };
}

/**
 * Pings the peer every `interval` and drops a connection whose peer stays silent.
 *
 * How it meets backpressure: while our readable is full the socket is paused, so the peer's pong
 * sits unread in the kernel behind the data in front of it. A deadline on the wall clock would
 * then kill a healthy peer for our own slowness. So the deadline runs on the connection's reading
 * clock (`Connection.readingTime`), which only advances while we are waiting for the peer's bytes:
 * the peer has `timeout` ms of our attention to answer. Any frame it sends counts as an answer
 * (a busy peer's pong may be queued behind megabytes of data that prove it alive anyway).
 *
 * What covers the paused time instead: TCP keepalive, switched on with `interval` as its idle
 * time. The peer's kernel answers those probes whatever its application or our reading does, so a
 * peer whose host or network vanished is still found (after the system's probe count). A peer
 * whose process hangs while we are paused is found once we read again.
 */
export class Keepalive {
  #timer: NodeJS.Timeout | null = null;
  /** A ping is out and nothing has been heard since. */
  #awaiting = false;
  /** `readingTime` when the outstanding ping was sent. */
  #pingReadingTime = 0;
  /** performance.now() of the last ping: pings go out every `interval` of wall time. */
  #lastPing = 0;

  constructor(
    private readonly connection: Connection,
    private readonly options: KeepaliveOptions,
    private readonly onDead: (error: Error) => void,
  ) {}

  /** `socket` is a TCP or TLS socket, or an application's stream (createConnection) without TCP keepalive. */
  start(socket: Duplex & { setKeepAlive?: (enable: boolean, initialDelay: number) => unknown }): void {
    socket.setKeepAlive?.(true, this.options.interval);
    this.connection.onPeerActivity = () => {
      this.#awaiting = false;
    };
    this.#lastPing = performance.now();
    this.#arm(this.options.interval);
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.connection.onPeerActivity = null;
  }

  #arm(ms: number): void {
    // One timer per connection, re-armed from its own callback: no work per received frame.
    this.#timer = setTimeout(() => this.#tick(), Math.max(1, ms));
    this.#timer.unref?.();
  }

  #tick(): void {
    const { interval, timeout } = this.options;
    if (this.#awaiting) {
      const waited = this.connection.readingTime - this.#pingReadingTime;
      // 1 ms of slack: timers and performance.now() round differently.
      if (waited >= timeout - 1) {
        this.stop();
        this.onDead(new Error(`Keepalive: the peer sent nothing for ${timeout} ms of reading time after a ping`));
        return;
      }
      // Paused reading stops the clock; look again later, not in a tight loop.
      this.#arm(Math.max(timeout - waited, timeout / 8));
      return;
    }
    const due = this.#lastPing + interval - performance.now();
    if (due > 1) {
      this.#arm(due);
      return;
    }
    if (!this.connection.ping()) {
      this.stop(); // closing: the close timeout bounds the rest
      return;
    }
    this.#awaiting = true;
    this.#pingReadingTime = this.connection.readingTime;
    this.#lastPing = performance.now();
    this.#arm(Math.min(timeout, interval));
  }
}
