import type { Duplex } from 'node:stream';
import { ProxyError, type ProxyConfig } from './proxy-url.js';

/** A proxy's answers are short; one larger than this is not a proxy we understand. */
const MAX_ANSWER_BYTES = 16 * 1024;

/**
 * Reads the answer to one step of a proxy negotiation. `parse` sees every byte received so far
 * and returns null while the answer is incomplete; it throws a ProxyError for a refusal or for
 * bytes beyond the answer (the proxy spoke out of turn: nothing of it may reach the WebSocket).
 */
export type AnswerParser<T> = (received: Buffer) => T | null;

/**
 * Writes `request` (when given) and waits for the proxy's complete answer. Rejects with a
 * ProxyError when the proxy cannot be reached or hangs up, with the signal's reason on abort.
 * The caller destroys the socket on rejection.
 */
export function exchange<T>(
  socket: Duplex,
  proxy: ProxyConfig,
  request: Uint8Array | string | null,
  parse: AnswerParser<T>,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    const done = (error: unknown, value?: T): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (error === null) resolve(value!);
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (received.length > MAX_ANSWER_BYTES) {
        done(new ProxyError('ERR_WS_PROXY_PROTOCOL', `Proxy ${proxy.display} sent an answer larger than ${MAX_ANSWER_BYTES} bytes`));
        return;
      }
      let value: T | null;
      try {
        value = parse(received);
      } catch (error) {
        done(error);
        return;
      }
      if (value !== null) done(null, value);
    };
    const onError = (error: Error): void => {
      done(new ProxyError('ERR_WS_PROXY_UNREACHABLE', `Could not reach proxy ${proxy.display}: ${error.message}`, null, { cause: error }));
    };
    const onClose = (): void => done(new ProxyError('ERR_WS_PROXY_UNREACHABLE', `Proxy ${proxy.display} closed the connection before answering`));
    const onAbort = (): void => done(signal.reason);
    if (signal.aborted) {
      onAbort();
      return;
    }
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    if (request !== null) socket.write(request);
  });
}

/** The answer was complete at `end`; anything after it was not asked for. */
export function expectNothingAfter(received: Buffer, end: number, proxy: ProxyConfig): void {
  if (received.length > end) {
    throw new ProxyError('ERR_WS_PROXY_PROTOCOL', `Proxy ${proxy.display} sent ${received.length - end} unexpected bytes after its answer`);
  }
}
