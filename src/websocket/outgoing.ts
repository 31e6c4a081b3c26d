/**
 * The send side of the classic WebSocket over a WebSocketStream writer: keeps messages in the
 * order send() was called even when a Blob must be read first, and counts `bufferedAmount`.
 */
export class Outgoing {
  readonly #writer: WritableStreamDefaultWriter<unknown>;
  /** Application bytes handed to send() and not yet taken by the socket. */
  #buffered = 0;
  /** Writes started and not settled. */
  #inFlight = 0;
  #lastWrite: Promise<unknown> = Promise.resolve();
  /**
   * While a Blob is being read, every later message waits behind it on this chain; null when no
   * message waits, so that the common case writes at once.
   */
  #chain: Promise<void> | null = null;
  #chained = 0;
  readonly #onBlobError: () => void;

  constructor(writer: WritableStreamDefaultWriter<unknown>, onBlobError: () => void) {
    this.#writer = writer;
    this.#onBlobError = onBlobError;
    // The writer's promises reject when the connection ends; that is reported by `closed`.
    writer.closed.catch(() => {});
    writer.ready.catch(() => {});
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  /** Counts bytes that will never be sent (send() after closing started): they stay counted. */
  addUnsent(size: number): void {
    this.#buffered += size;
  }

  send(data: string | Uint8Array | Blob, size: number): void {
    this.#buffered += size;
    if (this.#chain === null && !(data instanceof Blob)) {
      this.#write(data, size);
      return;
    }
    // Start reading the Blob now; write it, and whatever was sent after it, in send() order.
    const bytes: Promise<string | Uint8Array | ArrayBuffer> = data instanceof Blob ? data.arrayBuffer() : Promise.resolve(data);
    this.#chained++;
    this.#chain = (this.#chain ?? Promise.resolve())
      .then(() => bytes)
      .then(
        (value) => this.#write(value instanceof ArrayBuffer ? new Uint8Array(value) : value, size),
        () => this.#onBlobError(),
      )
      .finally(() => {
        if (--this.#chained === 0) this.#chain = null;
      });
  }

  /** Settles once everything sent so far has been written (or has failed); null if nothing is pending. */
  whenFlushed(): Promise<void> | null {
    if (this.#chain === null && this.#inFlight === 0) return null;
    const settle = (): Promise<void> => this.#lastWrite.then(() => {}, () => {});
    return this.#chain === null ? settle() : this.#chain.then(settle);
  }

  #write(data: string | Uint8Array, size: number): void {
    this.#inFlight++;
    const write = this.#writer.write(data);
    this.#lastWrite = write;
    write.then(
      () => {
        this.#inFlight--;
        this.#buffered -= size;
      },
      // Never sent (the connection ended first): those bytes stay in bufferedAmount, as the
      // standard counts data "not yet transmitted to the network".
      () => {
        this.#inFlight--;
      },
    );
  }
}
