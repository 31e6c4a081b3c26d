import type { IncomingMessage } from 'node:http';
import { serve, toWritableStream, type WebSocketStream } from '../index.js';
import type { ServerConfig } from './options.js';
import { DEFAULT_MAX_LINE, formatMessage, ignore, inputMessages } from './pipes.js';
import { flushStdout, report } from './report.js';

interface Client {
  id: number;
  wss: WebSocketStream;
  writer: WritableStreamDefaultWriter<unknown>;
}

/**
 * Server mode: accepts WebSocket connections; stdin lines go to the client being served (every
 * client with --broadcast) and their messages to stdout, or with --echo each client gets its own
 * messages back. Clients are served one at a time unless --broadcast or --echo: the next one
 * waits, unread, until the current one is gone. SIGINT or SIGTERM closes every client with 1001.
 * Resolves with the exit status.
 */
export async function runServer(config: ServerConfig): Promise<number> {
  const output = toWritableStream(process.stdout).getWriter();
  /** Clients whose turn it is: they get stdin's messages and their messages go to stdout. */
  const served = new Set<Client>();
  let turn: Promise<void> = Promise.resolve();
  let nextId = 1;
  let received = 0;
  let onServed: (() => void) | null = null;

  const server = await serve(config.options, async (wss: WebSocketStream, request: IncomingMessage) => {
    const id = nextId++;
    const { readable, writable, protocol } = await wss.opened;
    report(`client ${id} connected from ${request.socket.remoteAddress}:${request.socket.remotePort}${protocol === '' ? '' : ` (subprotocol ${protocol})`}`);
    const ended = wss.closed.then(
      ({ closeCode, reason }) => report(`client ${id} closed (code ${closeCode}${reason === '' ? '' : `, reason ${JSON.stringify(reason)}`})`),
      (error: unknown) => report(`client ${id} failed: ${(error as Error).message}`),
    );
    if (config.echo) {
      // Each client's messages back to it, its reading paced by its own writing.
      await readable.pipeTo(writable).catch(ignore);
      await ended;
      return;
    }
    // One at a time: wait for the clients before this one to be gone.
    const previous = turn;
    let done!: () => void;
    turn = new Promise((resolve) => (done = resolve));
    if (!config.broadcast) await previous;
    const client: Client = { id, wss, writer: writable.getWriter() };
    served.add(client);
    onServed?.();
    try {
      for await (const message of readable as ReadableStream<string | Uint8Array | ArrayBuffer>) {
        for (const chunk of formatMessage(message, config.binary)) {
          await output.ready;
          output.write(chunk).catch(ignore);
        }
        if (++received === config.maxMessages) void stop(config.closeCode ?? 1000, config.closeReason);
      }
    } catch {
      // The connection failed; `ended` reports it.
    } finally {
      served.delete(client);
      await ended;
      done();
    }
  });
  report(`listening on ${server.url}`);

  let stopping: Promise<void> | null = null;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  /** Closes every client (with `code`, or 1001 from server.close()) and stops listening. */
  const stop = (code?: number, reason = ''): Promise<void> => {
    stopping ??= (async () => {
      if (code !== undefined) for (const wss of server.connections) wss.close({ closeCode: code, reason });
      await server.close();
      resolveStopped();
    })();
    return stopping;
  };
  const onSignal = (): void => void stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  if (!config.echo) {
    void (async () => {
      // stdin is read only while someone is served and as fast as the slowest of them takes it.
      for await (const message of inputMessages(process.stdin, config.binary, config.options.maxPayload ?? DEFAULT_MAX_LINE)) {
        while (served.size === 0 && stopping === null) await new Promise<void>((resolve) => (onServed = resolve));
        if (stopping !== null) return;
        for (const client of served) {
          try {
            await client.writer.ready;
            client.writer.write(message).catch(ignore);
          } catch {
            // That client is gone; the others still get the message.
          }
        }
      }
      // stdin's end: nothing more to send, so every client is closed and the server stops.
      if (!config.keepOpen) await stop(config.closeCode ?? 1000, config.closeReason);
    })().catch((error: unknown) => {
      report((error as Error).message);
      void stop(config.closeCode ?? 1000, config.closeReason);
    });
  }

  await stopped;
  await output.close().catch(ignore);
  await flushStdout();
  return 0;
}
