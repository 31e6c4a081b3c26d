import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { headerValue, validateHeaders } from '../protocol/handshake.js';
import { negotiateAsServer } from '../protocol/permessage-deflate.js';
import type { NegotiatedDeflate, OpenedSocket } from '../transport/client-handshake.js';
import { REFUSAL_OWNED_HEADERS, type ResolvedAcceptOptions, type VerifyResult } from './options.js';
import { checkUpgradeRequest, type AcceptableRequest } from './request.js';
import { refuseSocket, statusText, switchingProtocolsResponse, type HeaderLines } from './response.js';
import { selectProtocol } from './subprotocol.js';
import { ignore } from '../protocol/ignore.js';

interface Refusal {
  status: number;
  /** Body for the client. */
  message: string;
  headers: HeaderLines;
  /** What `opened` rejects with on the server. */
  error: Error;
}

/**
 * The server's side of the opening handshake on a socket Node's HTTP server handed over: check the
 * request, run the application's hooks, answer 101 or an error status. Resolves with the socket
 * (paused, not a byte of it read) once the 101 is written; rejects with an Error saying what went
 * wrong, or with `signal.reason` when the signal aborts first. Bounded by `handshakeTimeout`.
 */
export function answerHandshake(
  request: IncomingMessage,
  socket: Socket,
  head: Buffer,
  options: ResolvedAcceptOptions,
  signal: AbortSignal,
): Promise<OpenedSocket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('close', onClose);
      socket.off('end', onClose);
      return true;
    };
    const refuse = ({ status, message, headers, error }: Refusal): void => {
      if (!settle()) return;
      refuseSocket(socket, status, message, headers, options.closeTimeout);
      reject(error);
    };
    const onAbort = (): void => {
      if (!settle()) return;
      refuseSocket(socket, 503, 'The server abandoned the opening handshake', [], options.closeTimeout);
      reject(signal.reason);
    };
    // A paused socket still reads into its buffer, so a client's FIN can arrive (and 'end' fire)
    // before the Connection listens. A client never half-closes before the 101: it is gone.
    const onClose = (): void => {
      if (!settle()) return;
      socket.destroy();
      reject(new Error('The client closed the connection during the opening handshake'));
    };
    const timer = setTimeout(() => refuse({
      status: 503,
      message: 'The server did not complete the opening handshake in time',
      headers: [],
      error: new Error(`Opening handshake timed out after ${options.handshakeTimeout} ms (verify or protocols did not settle)`),
    }), options.handshakeTimeout);
    timer.unref?.();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('close', onClose);
    socket.on('end', onClose);
    // Until the Connection takes over, a reset must not become an uncaught 'error'; 'close' follows.
    socket.on('error', ignore);
    socket.pause();

    const check = checkUpgradeRequest(request);
    if (!check.ok) {
      refuse({
        status: check.status,
        message: check.message,
        headers: Object.entries(check.headers),
        error: new Error(`Handshake refused with ${statusText(check.status)}: ${check.message}`),
      });
      return;
    }
    let deflate: NegotiatedDeflate | null = null;
    let extensions = '';
    if (options.deflate !== null) {
      const offer = headerValue(request.headers, 'sec-websocket-extensions');
      try {
        const agreed = negotiateAsServer(offer, options.deflate.policy);
        if (agreed !== null) {
          deflate = { params: agreed.params, tuning: options.deflate.tuning };
          extensions = agreed.answer;
        }
      } catch (error) {
        const message = (error as Error).message;
        refuse({ status: 400, message, headers: [], error: new Error(`Handshake refused with 400 Bad Request: ${message}`) });
        return;
      }
    }
    runHooks(request, check, options).then(
      (outcome) => {
        if (settled) return;
        if (typeof outcome !== 'string') {
          refuse(outcome);
          return;
        }
        if (socket.destroyed || !socket.writable || socket.readableEnded) {
          onClose();
          return;
        }
        settle();
        // The Connection's 'error' listener is on before anything can be emitted (#onOpen runs in
        // this microtask checkpoint). Memory: see docs/memory.md#nothing-of-the-handshake-kept-once-open
        socket.off('error', ignore);
        socket.write(switchingProtocolsResponse(check.key, outcome, extensions, options.headers));
        resolve({ socket, head, protocol: outcome, extensions, deflate, reads: null });
      },
      (error: unknown) => refuse({
        status: 500,
        message: 'Internal Server Error',
        headers: [],
        error: new Error(`Handshake failed with 500 Internal Server Error: ${(error as Error)?.message ?? String(error)}`),
      }),
    );
  });
}

/** Runs `verify` then subprotocol selection; resolves with the subprotocol or a refusal. */
async function runHooks(request: IncomingMessage, check: AcceptableRequest, options: ResolvedAcceptOptions): Promise<string | Refusal> {
  if (options.verify !== undefined) {
    const refusal = toRefusal(await options.verify(request));
    if (refusal !== null) return refusal;
  }
  return selectProtocol(check.protocols, options.protocols, request);
}

function toRefusal(result: VerifyResult): Refusal | null {
  if (result === undefined || result === true) return null;
  if (result === false) return refusal(403, undefined, []);
  if (result === null || typeof result !== 'object') {
    throw new TypeError(`verify returned ${String(result)}: expected nothing, a boolean or { status, message?, headers? }`);
  }
  const { status, message, headers } = result;
  if (!Number.isInteger(status) || status < 300 || status > 599) {
    throw new TypeError(`verify refused with status ${String(status)}: it must be an integer in 300-599`);
  }
  if (message !== undefined && typeof message !== 'string') throw new TypeError('verify refused with a message that is not a string');
  return refusal(status, message, validateHeaders(headers, REFUSAL_OWNED_HEADERS, 'the refusal headers'));
}

function refusal(status: number, message: string | undefined, headers: HeaderLines): Refusal {
  const text = message ?? statusText(status).replace(/^\d+ /, '');
  return {
    status,
    message: text,
    headers,
    error: new Error(`Handshake refused by verify with ${statusText(status)}${message === undefined ? '' : `: ${message}`}`),
  };
}
