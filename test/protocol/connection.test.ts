// The protocol connection without sockets: bytes in, events and frames out. Every rule a hostile
// peer can break is one row of a table, run twice: the bytes as written, and one byte per
// receive() (the peer controls segmentation, which must never change the outcome). The socket
// tests in client-hostile.test.ts keep a few rows end to end.
import { deflateRawSync, inflateRawSync, constants as zlib } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { ConnectionState, ProtocolConnection, type ProtocolEvent, type Role } from '../../src/protocol/protocol-connection.js';
import { ProtocolError, type ViolationCode } from '../../src/protocol/protocol-error.js';
import { closeBody, frame, parseClientFrame, type ClientFrame } from '../helpers/raw-server.js';

const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
const MASK = Buffer.from([1, 2, 3, 4]);
const bytes = (...values: number[]): Buffer => Buffer.from(values);
const text = (payload: string | Buffer, spec?: Parameters<typeof frame>[2]): Buffer => frame(OP.text, payload, spec);

/** What a permessage-deflate sender puts on the wire: raw deflate, sync flush, tail removed. */
function compress(data: Buffer | string): Buffer {
  const out = deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, { finishFlush: zlib.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

interface Options {
  role?: Role;
  maxPayload?: number;
  deflate?: boolean;
}

/** One run: what the application got, and every frame the connection asked to send, decoded. */
interface Outcome {
  conn: ProtocolConnection;
  messages: Array<string | Uint8Array>;
  sent: ClientFrame[];
  events: ProtocolEvent[];
}

function decodeSent(buffer: Buffer): ClientFrame {
  const parsed = parseClientFrame(buffer);
  if (parsed === null || parsed.size !== buffer.length) throw new Error('the connection produced a broken frame');
  return parsed.frame;
}

/**
 * Feeds `writes` to a connection and reacts as the transport does: pongs for pings, the reply to a
 * Close, the failure's Close; compressed messages are inflated here (synchronously) and handed back.
 */
function run(writes: Buffer[], options: Options = {}, conn = connection(options)): Outcome {
  const outcome: Outcome = { conn, messages: [], sent: [], events: [] };
  const send = (buffer: Buffer | null): void => {
    if (buffer !== null) outcome.sent.push(decodeSent(buffer));
  };
  const handle = (event: ProtocolEvent): void => {
    outcome.events.push(event);
    switch (event.type) {
      case 'text':
      case 'binary':
        outcome.messages.push(event.data);
        return;
      case 'compressed':
        handle(conn.inflated(event.opcode, inflate(event.fragments)));
        return;
      case 'ping':
        send(conn.pong(event.payload));
        return;
      case 'pong':
        return;
      case 'close':
        send(conn.replyToClose());
        return;
      case 'failed':
        if (!event.closeAlreadySent) send(event.closeFrame);
    }
  };
  for (const chunk of writes) {
    conn.receive(chunk);
    for (let i = 0; i < 10_000; i++) {
      const event = conn.next();
      if (event === null) break;
      handle(event);
    }
  }
  return outcome;
}

function connection(options: Options): ProtocolConnection {
  return new ProtocolConnection({
    role: options.role ?? 'client',
    maxPayload: options.maxPayload ?? 64 * 1024 * 1024,
    deflate: options.deflate ?? false,
  });
}

function inflate(fragments: Buffer[]): Buffer {
  return inflateRawSync(Buffer.concat([...fragments, bytes(0, 0, 0xff, 0xff)]), { finishFlush: zlib.Z_SYNC_FLUSH });
}

/** Every byte in a receive() of its own. */
function oneByteAtATime(writes: Buffer[]): Buffer[] {
  const all = Buffer.concat(writes);
  return Array.from(all, (byte) => Buffer.from([byte]));
}

function closeOf(sent: ClientFrame): { code: number; reason: string } {
  expect(sent.opcode).toBe(OP.close);
  if (sent.payload.length === 0) return { code: CloseCode.NoStatusReceived, reason: '' };
  return { code: sent.payload.readUInt16BE(0), reason: sent.payload.subarray(2).toString('utf8') };
}

interface ViolationRow {
  name: string;
  writes: Buffer[];
  /** The violation's stable code and the close code we fail with. */
  violation: ViolationCode;
  closeCode: number;
  options?: Options;
  /** Good messages delivered before the violation. */
  before?: Array<string | Uint8Array>;
  /** Payloads of the pings answered before the violation. */
  pongs?: string[];
}

const violations: ViolationRow[] = [
  { name: 'a masked server frame', writes: [text('hi', { mask: MASK })], violation: 'ERR_WS_WRONG_MASKING', closeCode: 1002 },
  { name: 'an unmasked client frame (server role)', writes: [text('hi')], options: { role: 'server' }, violation: 'ERR_WS_WRONG_MASKING', closeCode: 1002 },
  { name: 'RSV1 without an extension', writes: [text('hi', { rsv: 4 })], violation: 'ERR_WS_RESERVED_BITS', closeCode: 1002 },
  { name: 'RSV2 without an extension', writes: [text('hi', { rsv: 2 })], violation: 'ERR_WS_RESERVED_BITS', closeCode: 1002 },
  { name: 'RSV3 without an extension', writes: [text('hi', { rsv: 1 })], violation: 'ERR_WS_RESERVED_BITS', closeCode: 1002 },
  { name: 'all RSV bits', writes: [text('hi', { rsv: 7 })], violation: 'ERR_WS_RESERVED_BITS', closeCode: 1002 },
  { name: 'RSV1 on a control frame, no extension', writes: [frame(OP.ping, 'x', { rsv: 4 })], violation: 'ERR_WS_RESERVED_BITS', closeCode: 1002 },
  { name: 'RSV2 with permessage-deflate', writes: [text('hi', { rsv: 2 })], options: { deflate: true }, violation: 'ERR_WS_RESERVED_BITS', closeCode: 1002 },
  { name: 'RSV1 without permessage-deflate agreed', writes: [frame(OP.text, compress('x'), { rsv: 4 })], violation: 'ERR_WS_RESERVED_BITS', closeCode: 1002 },
  { name: 'RSV1 on a control frame with permessage-deflate', writes: [frame(OP.ping, 'x', { rsv: 4 })], options: { deflate: true }, violation: 'ERR_WS_RSV1_ON_CONTROL_FRAME', closeCode: 1002 },
  {
    name: 'RSV1 on a continuation frame',
    writes: [frame(OP.text, compress('ab'), { rsv: 4, fin: false }), frame(OP.cont, compress('cd'), { rsv: 4 })],
    options: { deflate: true },
    violation: 'ERR_WS_RSV1_ON_CONTINUATION',
    closeCode: 1002,
  },
  ...[0x3, 0x7, 0xb, 0xf].map((opcode): ViolationRow => ({
    name: `unknown opcode 0x${opcode.toString(16)}`, writes: [frame(opcode, 'x')], violation: 'ERR_WS_UNKNOWN_OPCODE', closeCode: 1002,
  })),
  { name: 'a ping without FIN', writes: [frame(OP.ping, 'x', { fin: false })], violation: 'ERR_WS_FRAGMENTED_CONTROL_FRAME', closeCode: 1002 },
  { name: 'a ping with a 126-byte payload', writes: [frame(OP.ping, Buffer.alloc(126, 0x61))], violation: 'ERR_WS_CONTROL_FRAME_TOO_LONG', closeCode: 1002 },
  { name: 'a close with a 126-byte payload', writes: [frame(OP.close, closeBody(1000, 'x'.repeat(124)))], violation: 'ERR_WS_CONTROL_FRAME_TOO_LONG', closeCode: 1002 },
  { name: 'a continuation without a message', writes: [frame(OP.cont, 'x')], violation: 'ERR_WS_UNEXPECTED_CONTINUATION', closeCode: 1002 },
  {
    name: 'a continuation after a complete message',
    writes: [text('done'), frame(OP.cont, 'more')],
    before: ['done'],
    violation: 'ERR_WS_UNEXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: 'a new text frame inside a fragmented message',
    writes: [text('par', { fin: false }), text('new')],
    violation: 'ERR_WS_EXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  {
    name: 'a new binary frame inside a fragmented text message, after a ping',
    writes: [text('par', { fin: false }), frame(OP.ping, 'p'), frame(OP.binary, bytes(1), { fin: false })],
    pongs: ['p'],
    violation: 'ERR_WS_EXPECTED_CONTINUATION',
    closeCode: 1002,
  },
  ...([
    ['a lone 0xFF byte', bytes(0x66, 0xff, 0x66)],
    ['a bad continuation byte', bytes(0xc3, 0x28)],
    ['an overlong "/"', bytes(0xc0, 0xaf)],
    ['a UTF-16 surrogate', bytes(0xed, 0xa0, 0x80)],
    ['a code point above U+10FFFF', bytes(0xf4, 0x90, 0x80, 0x80)],
    ['a sequence cut at the end', bytes(0x61, 0xe2, 0x82)],
    ['a bad byte after 300 valid ones', Buffer.concat([Buffer.alloc(300, 0x61), bytes(0xff)])],
  ] as const).map(([name, payload]): ViolationRow => ({
    name: `text with ${name}`, writes: [text(payload)], violation: 'ERR_WS_INVALID_UTF8', closeCode: 1007,
  })),
  {
    name: 'invalid UTF-8 split across fragments',
    writes: [text(bytes(0x61, 0xe2), { fin: false }), frame(OP.cont, bytes(0x82), { fin: false }), frame(OP.cont, bytes(0x28))],
    violation: 'ERR_WS_INVALID_UTF8',
    closeCode: 1007,
  },
  {
    name: 'a fragmented text ending inside a code point',
    writes: [text('ok', { fin: false }), frame(OP.cont, bytes(0xf0, 0x9f, 0x98))],
    violation: 'ERR_WS_INVALID_UTF8',
    closeCode: 1007,
  },
  { name: 'invalid UTF-8 after a good message', writes: [text('first'), text(bytes(0xff))], before: ['first'], violation: 'ERR_WS_INVALID_UTF8', closeCode: 1007 },
  { name: 'invalid UTF-8 in a close reason', writes: [frame(OP.close, closeBody(1000, bytes(0x6f, 0x6b, 0xff)))], violation: 'ERR_WS_INVALID_UTF8', closeCode: 1007 },
  {
    name: 'compressed text inflating to invalid UTF-8',
    writes: [frame(OP.text, compress(bytes(0x61, 0xff, 0x62)), { rsv: 4 })],
    options: { deflate: true },
    violation: 'ERR_WS_INVALID_UTF8',
    closeCode: 1007,
  },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code): ViolationRow => ({
    name: `close code ${code}`, writes: [frame(OP.close, closeBody(code))], violation: 'ERR_WS_INVALID_CLOSE_CODE', closeCode: 1002,
  })),
  { name: 'a 1-byte close body', writes: [frame(OP.close, bytes(0x03))], violation: 'ERR_WS_INVALID_CLOSE_BODY', closeCode: 1002 },
  { name: 'a 64-bit length with the top bit set', writes: [bytes(0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0x01)], violation: 'ERR_WS_INVALID_LENGTH', closeCode: 1002 },
  { name: 'a 2^40 length, before any payload', writes: [bytes(0x82, 0x7f, 0, 0, 0x01, 0, 0, 0, 0, 0)], violation: 'ERR_WS_MESSAGE_TOO_BIG', closeCode: 1009 },
  { name: 'a single frame over maxPayload', writes: [frame(OP.binary, Buffer.alloc(17, 7))], options: { maxPayload: 16 }, violation: 'ERR_WS_MESSAGE_TOO_BIG', closeCode: 1009 },
  {
    name: 'a header alone announcing more than maxPayload',
    writes: [text('x'.repeat(1000)).subarray(0, 4)],
    options: { maxPayload: 16 },
    violation: 'ERR_WS_MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  {
    name: 'fragments whose sum exceeds maxPayload, a ping between',
    writes: [frame(OP.binary, Buffer.alloc(10, 1), { fin: false }), frame(OP.ping, 'p'), frame(OP.cont, Buffer.alloc(7, 2))],
    pongs: ['p'],
    options: { maxPayload: 16 },
    violation: 'ERR_WS_MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  {
    name: 'a big message after one of exactly maxPayload',
    writes: [text('a'.repeat(8), { fin: false }), frame(OP.cont, 'b'.repeat(8)), frame(OP.binary, Buffer.alloc(17))],
    options: { maxPayload: 16 },
    before: ['aaaaaaaabbbbbbbb'],
    violation: 'ERR_WS_MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  {
    name: 'a compressed fragment beyond maxPayload plus deflate slack',
    writes: [frame(OP.binary, Buffer.alloc(16 + 1025 + 1, 1), { rsv: 4 })],
    options: { maxPayload: 16, deflate: true },
    violation: 'ERR_WS_MESSAGE_TOO_BIG',
    closeCode: 1009,
  },
  {
    name: 'a good message, a violation, then frames that are never parsed',
    writes: [Buffer.concat([text('ok'), frame(0x3, 'x'), text('never delivered'), frame(OP.ping, 'never answered')])],
    before: ['ok'],
    violation: 'ERR_WS_UNKNOWN_OPCODE',
    closeCode: 1002,
  },
];

describe('ProtocolConnection: every violation fails with its code and close code', () => {
  for (const [cut, split] of [['as written', (w: Buffer[]) => w], ['one byte per receive()', oneByteAtATime]] as const) {
    it.each(violations)(`$name (${cut})`, (row) => {
      const options = row.options ?? {};
      const { conn, messages, sent, events } = run(split(row.writes), options);
      expect(messages).toEqual(row.before ?? []);
      const failed = events.filter((e) => e.type === 'failed');
      expect(failed).toHaveLength(1);
      const error = (failed[0] as { error: Error }).error;
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).code).toBe(row.violation);
      expect(conn.failure).toBe(error);
      expect(conn.state).toBe(ConnectionState.Closed);
      // The pongs owed, then exactly one Close with the close code and a valid reason; masked (client).
      const pongs = row.pongs ?? [];
      expect(sent.map((f) => f.opcode)).toEqual([...pongs.map(() => OP.pong), OP.close]);
      expect(sent.slice(0, pongs.length).map((f) => f.payload.toString())).toEqual(pongs);
      expect(sent.every((f) => f.masked === (options.role !== 'server'))).toBe(true);
      const { code, reason } = closeOf(sent.at(-1)!);
      expect(code).toBe(row.closeCode);
      expect(reason).toBe(error.message);
      // Nothing more is parsed, sent or answered.
      conn.receive(text('late'));
      expect(conn.next()).toBeNull();
      expect(conn.send('more')).toBeNull();
      expect(conn.pong(bytes())).toBeNull();
    });
  }
});

describe('ProtocolConnection: the closing handshake', () => {
  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])(
    "the peer's Close %i is echoed with its reason; the handshake is then over",
    (code) => {
      const { conn, sent } = run([frame(OP.close, closeBody(code, 'bye'))]);
      expect(conn.peerClose).toEqual({ code, reason: 'bye' });
      expect(sent).toHaveLength(1);
      expect(closeOf(sent[0]!)).toEqual({ code, reason: 'bye' });
      expect(sent[0]!.masked).toBe(true);
      expect(conn.state).toBe(ConnectionState.Closed);
      expect(conn.failure).toBeNull();
    },
  );

  it("a body-less Close is answered body-less and reported as 1005", () => {
    const { conn, sent } = run([frame(OP.close)]);
    expect(conn.peerClose).toEqual({ code: 1005, reason: '' });
    expect(sent[0]!.payload.length).toBe(0);
    expect(conn.state).toBe(ConnectionState.Closed);
  });

  it("between the peer's Close and our reply the state is closing-by-peer: we may still send", () => {
    const conn = connection({});
    conn.receive(frame(OP.close, closeBody(1000)));
    expect(conn.next()).toMatchObject({ type: 'close', code: 1000 });
    expect(conn.state).toBe(ConnectionState.ClosingByPeer);
    expect(conn.receiving).toBe(false);
    expect(conn.send('last words')).not.toBeNull();
    expect(conn.replyToClose()).not.toBeNull();
    expect(conn.state).toBe(ConnectionState.Closed);
    expect(conn.send('too late')).toBeNull();
  });

  it('we close first: data still arrives, nothing more is sent, the peer\'s Close ends the handshake without a reply', () => {
    const conn = connection({});
    const ours = decodeSent(conn.close(4000, 'done')!);
    expect(closeOf(ours)).toEqual({ code: 4000, reason: 'done' });
    expect(conn.state).toBe(ConnectionState.ClosingByUs);
    expect(conn.close(1000)).toBeNull(); // once only
    expect(conn.send('x')).toBeNull();
    expect(conn.ping(bytes())).toBeNull();
    const { messages, sent } = run([text('in flight'), frame(OP.ping, 'p'), frame(OP.close, closeBody(4000, 'done'))], {}, conn);
    expect(messages).toEqual(['in flight']);
    expect(sent).toEqual([]); // no pong once our Close left, no second Close
    expect(conn.state).toBe(ConnectionState.Closed);
    expect(conn.peerClose).toEqual({ code: 4000, reason: 'done' });
  });

  it('frames after the peer\'s Close are ignored', () => {
    const { messages, sent } = run([Buffer.concat([frame(OP.close, closeBody(1000)), text('after'), frame(OP.ping, 'p')])]);
    expect(messages).toEqual([]);
    expect(sent.map((f) => f.opcode)).toEqual([OP.close]);
  });

  it('a failure of ours is 1011, its reason cut to 123 bytes on a character boundary', () => {
    const conn = connection({});
    const close = decodeSent(conn.fail(new Error('é'.repeat(100))));
    const { code, reason } = closeOf(close);
    expect(code).toBe(1011);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason).toBe('é'.repeat(61));
    expect(conn.state).toBe(ConnectionState.Closed);
  });

  it('a violation after our Close: the failure is reported, its Close marked as not to be sent again', () => {
    const conn = connection({});
    conn.close(1000);
    conn.receive(frame(0x3, 'x'));
    const event = conn.next();
    expect(event).toMatchObject({ type: 'failed', closeAlreadySent: true });
    expect(conn.state).toBe(ConnectionState.Closed);
  });
});

describe('ProtocolConnection: legal byte streams', () => {
  it('reassembles fragmented messages with pings between the fragments, and pongs each ping (any segmentation)', () => {
    const writes = [
      text('Hel', { fin: false }), frame(OP.ping, 'one'), frame(OP.cont, 'lo', { fin: false }), frame(OP.cont, '!'),
      frame(OP.binary, bytes(1, 2), { fin: false }), frame(OP.ping, 'two'), frame(OP.cont, bytes(3)),
    ];
    for (const split of [(w: Buffer[]) => w, oneByteAtATime]) {
      const { messages, sent, conn } = run(split(writes));
      expect(messages).toEqual(['Hello!', new Uint8Array([1, 2, 3])]);
      expect(sent.map((f) => [f.opcode, f.payload.toString()])).toEqual([[OP.pong, 'one'], [OP.pong, 'two']]);
      expect(conn.state).toBe(ConnectionState.Open);
    }
  });

  it('delivers messages of exactly maxPayload, whole and fragmented', () => {
    const { messages, conn } = run(
      [frame(OP.binary, Buffer.alloc(16, 1)), text('a'.repeat(10), { fin: false }), frame(OP.cont, 'b'.repeat(6))],
      { maxPayload: 16 },
    );
    expect(messages).toEqual([new Uint8Array(16).fill(1), 'a'.repeat(10) + 'b'.repeat(6)]);
    expect(conn.failure).toBeNull();
  });

  it('compressed messages come out as compressed events and go back in once inflated', () => {
    const { messages, events } = run(
      [frame(OP.text, compress('squeezed'), { rsv: 4 }), frame(OP.binary, compress('ab'), { rsv: 4, fin: false }), frame(OP.cont, Buffer.alloc(0))],
      { deflate: true },
    );
    expect(events.filter((e) => e.type === 'compressed')).toHaveLength(2);
    expect(messages).toEqual(['squeezed', new Uint8Array(Buffer.from('ab'))]);
  });

  it('the server role reads masked frames and sends unmasked ones', () => {
    const { messages, sent } = run([text('hi', { mask: MASK }), frame(OP.ping, 'p', { mask: MASK })], { role: 'server' });
    expect(messages).toEqual(['hi']);
    expect(sent).toMatchObject([{ opcode: OP.pong, masked: false }]);
  });
});
