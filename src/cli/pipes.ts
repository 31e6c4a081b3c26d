import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

type Message = string | Uint8Array | ArrayBuffer;

/** The longest stdin line without --max-payload: the library's default message limit. */
export const DEFAULT_MAX_LINE = 64 * 1024 * 1024;

/**
 * The messages stdin holds: one text message per line (without its `\n` or `\r\n`), or with
 * `binary` one binary message per chunk read. `for await` reads one chunk at a time, so stdin is
 * read only as fast as the messages are sent.
 */
export async function* inputMessages(input: Readable, binary: boolean, maxLineBytes: number): AsyncGenerator<string | Uint8Array> {
  if (binary) {
    for await (const chunk of input) yield chunk as Buffer;
    return;
  }
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of input) {
    pending += decoder.write(chunk as Buffer);
    let start = 0;
    for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n', start)) {
      yield withoutCarriageReturn(pending.slice(start, newline));
      start = newline + 1;
    }
    pending = pending.slice(start);
    // A line without end would grow without bound; no peer takes a message above its limit anyway.
    if (pending.length > maxLineBytes) throw new Error(`A line of stdin is longer than ${maxLineBytes} bytes`);
  }
  pending += decoder.end();
  if (pending !== '') yield withoutCarriageReturn(pending);
}

function withoutCarriageReturn(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * Sends every message to the writer, one at a time as the writable's queue makes room. Stops
 * quietly when the connection closes under it (the caller reports how it closed).
 */
export async function sendAll(messages: AsyncIterable<string | Uint8Array>, writer: WritableStreamDefaultWriter<unknown>): Promise<void> {
  for await (const message of messages) {
    try {
      await writer.ready;
    } catch {
      return;
    }
    writer.write(message).catch(ignore);
  }
}

/**
 * Received messages to stdout's bytes: with `binary` every message raw, otherwise each followed
 * by a newline. After `limit` messages it calls `onLimit` and ends the output.
 */
export function outputFormat(binary: boolean, limit: number | undefined, onLimit: () => void): TransformStream<Message, string | Uint8Array> {
  let count = 0;
  return new TransformStream({
    transform(message, controller) {
      for (const chunk of formatMessage(message, binary)) controller.enqueue(chunk);
      if (limit !== undefined && ++count >= limit) {
        onLimit();
        controller.terminate();
      }
    },
  });
}

/** A received message as stdout's bytes: raw with `binary`, otherwise followed by a newline. */
export function formatMessage(message: Message, binary: boolean): Array<string | Uint8Array> {
  const data = message instanceof ArrayBuffer ? new Uint8Array(message) : message;
  if (binary) return [data];
  return typeof data === 'string' ? [`${data}\n`] : [data, '\n'];
}

export function ignore(): void {}
