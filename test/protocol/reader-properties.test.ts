// Property-based tests of the frame and message reader (fast-check): random valid frame sequences,
// cut into random socket reads, decode to exactly the messages encoded; random bytes end in our
// ProtocolError with a valid close code or in "need more bytes", never anything else, and never
// make the reader hold more of a message than its limit. `npm test` runs a fixed seed and a
// bounded number of runs; `npm run fuzz` runs a longer campaign with a fresh seed (printed on
// failure, replay with FUZZ_SEED=<seed>).
import { fc, test } from '@fast-check/vitest';
import { constants as zlib, deflateRawSync, inflateRawSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { compressedSlack } from '../../src/protocol/frame-reader.js';
import { MessageReader, type ReceivedEvent } from '../../src/protocol/message-reader.js';
import { ProtocolError } from '../../src/protocol/protocol-error.js';
import { frame } from '../helpers/raw-server.js';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 0);
const params = {
  numRuns: FUZZ_RUNS > 0 ? FUZZ_RUNS : 300,
  ...(FUZZ_RUNS > 0 && process.env.FUZZ_SEED === undefined ? {} : { seed: Number(process.env.FUZZ_SEED ?? 20261203) }),
};
/** Each property's time budget: the long campaign gets minutes, the suite seconds. */
const TIMEOUT = FUZZ_RUNS > 0 ? 30 * 60_000 : 20_000;

const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

interface Control { opcode: typeof OP.ping | typeof OP.pong; payload: Uint8Array }
interface Message {
  text: boolean;
  data: Uint8Array | string;
  compressed: boolean;
  /** Cut points of the (possibly compressed) payload into fragments, as fractions. */
  cuts: number[];
  /** Control frames sent between the fragments (after fragment i % fragments). */
  controls: Control[];
}

const control: fc.Arbitrary<Control> = fc.record({
  opcode: fc.constantFrom(OP.ping, OP.pong),
  payload: fc.uint8Array({ maxLength: 125 }),
});

const message = (deflate: boolean): fc.Arbitrary<Message> => fc.record({
  text: fc.boolean(),
  data: fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.uint8Array({ maxLength: 70_000 }).map((bytes) => bytes),
    fc.integer({ min: 0, max: 3000 }).map((n) => 'ab'.repeat(n)),
  ),
  compressed: deflate ? fc.boolean() : fc.constant(false),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
  controls: fc.array(control, { maxLength: 3 }),
}).map((m) => {
  // Text messages carry a string; binary ones bytes.
  if (m.text && typeof m.data !== 'string') return { ...m, data: Buffer.from(m.data).toString('latin1') };
  if (!m.text && typeof m.data === 'string') return { ...m, data: Buffer.from(m.data, 'utf8') };
  return m;
});

function payloadOf(m: Message): Buffer {
  const raw = typeof m.data === 'string' ? Buffer.from(m.data, 'utf8') : Buffer.from(m.data);
  if (!m.compressed) return raw;
  const deflated = deflateRawSync(raw, { finishFlush: zlib.Z_SYNC_FLUSH });
  return deflated.subarray(0, deflated.length - 4); // RFC 7692 7.2.1: the sender drops the tail
}

const MASK = (masked: boolean): { mask?: Buffer } => (masked ? { mask: Buffer.from([0x37, 0xfa, 0x21, 0x3d]) } : {});

/** The wire bytes of the messages, and the events a reader must produce from them. */
function encode(messages: Message[], masked: boolean): { wire: Buffer; expected: Array<{ type: string; data: string | Buffer }> } {
  const frames: Buffer[] = [];
  const expected: Array<{ type: string; data: string | Buffer }> = [];
  for (const m of messages) {
    const payload = payloadOf(m);
    const cuts = [...new Set(m.cuts.map((c) => Math.floor(c * payload.length)))].sort((a, b) => a - b).filter((c) => c > 0 && c < payload.length);
    const bounds = [0, ...cuts, payload.length];
    const count = bounds.length - 1;
    for (let i = 0; i < count; i++) {
      const opcode = i === 0 ? (m.text ? OP.text : OP.binary) : OP.cont;
      const rsv = i === 0 && m.compressed ? 4 : 0;
      frames.push(frame(opcode, payload.subarray(bounds[i], bounds[i + 1]), { fin: i === count - 1, rsv, ...MASK(masked) }));
      for (const [k, c] of m.controls.entries()) {
        if (k % count !== i || i === count - 1) continue;
        frames.push(frame(c.opcode, Buffer.from(c.payload), MASK(masked)));
        expected.push({ type: c.opcode === OP.ping ? 'ping' : 'pong', data: Buffer.from(c.payload) });
      }
    }
    expected.push({ type: m.text ? 'text' : 'binary', data: typeof m.data === 'string' ? m.data : Buffer.from(m.data) });
    // Control frames scheduled after the last fragment go after the message.
    for (const [k, c] of m.controls.entries()) {
      if (k % count !== count - 1) continue;
      frames.push(frame(c.opcode, Buffer.from(c.payload), MASK(masked)));
      expected.push({ type: c.opcode === OP.ping ? 'ping' : 'pong', data: Buffer.from(c.payload) });
    }
  }
  return { wire: Buffer.concat(frames), expected };
}

/** Cuts `wire` at the given fractions into separate chunks (each its own buffer, as socket reads are). */
function split(wire: Buffer, fractions: number[]): Buffer[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * wire.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, wire.length]) {
    if (point <= start) continue;
    chunks.push(Buffer.from(wire.subarray(start, point)));
    start = point;
  }
  return chunks;
}

/** What an event means to the application (compressed messages inflated as the transport does). */
function normalize(event: ReceivedEvent): { type: string; data: string | Buffer } {
  switch (event.type) {
    case 'text': return { type: 'text', data: event.data };
    case 'binary': return { type: 'binary', data: Buffer.from(event.data) };
    case 'ping': case 'pong': return { type: event.type, data: Buffer.from(event.payload) };
    case 'compressed': {
      const bytes = inflateRawSync(Buffer.concat([...event.fragments, TAIL]), { finishFlush: zlib.Z_SYNC_FLUSH });
      return event.opcode === OP.text ? { type: 'text', data: bytes.toString('utf8') } : { type: 'binary', data: bytes };
    }
    case 'close': return { type: 'close', data: `${event.code} ${event.reason}` };
  }
}

/** Pushes the chunks one by one and collects every event; at most `limit` events in all. */
function readAll(reader: MessageReader, chunks: Buffer[], limit = 10_000): ReceivedEvent[] {
  const events: ReceivedEvent[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let event = reader.next(); event !== null; event = reader.next()) {
      events.push(event);
      if (events.length > limit) throw new Error('more events than frames: the reader loops');
    }
  }
  return events;
}

describe('reader properties', () => {
  test.prop([fc.boolean(), fc.boolean(), fc.array(message(true), { minLength: 1, maxLength: 6 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 })], params)(
    'valid frame sequences cut at random points decode to exactly the messages sent',
    (server, deflate, drawn, cuts) => {
      const messages = deflate ? drawn : drawn.map((m) => ({ ...m, compressed: false }));
      const { wire, expected } = encode(messages, server);
      const reader = new MessageReader({ expectMasked: server, maxPayload: 1 << 20, deflate });
      const events = readAll(reader, split(wire, cuts)).map(normalize);
      expect(events).toEqual(expected);
      expect(reader.bufferedBytes).toBe(0);
    },
    TIMEOUT,
  );

  test.prop([fc.boolean(), fc.boolean(), fc.array(message(true), { minLength: 1, maxLength: 6 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 })], params)(
    'a chunk the reader released can take the next read: overwriting it changes no event, earlier or later',
    (server, deflate, drawn, cuts) => {
      const messages = deflate ? drawn : drawn.map((m) => ({ ...m, compressed: false }));
      const { wire, expected } = encode(messages, server);
      const reader = new MessageReader({ expectMasked: server, maxPayload: 1 << 20, deflate });
      // Events are normalized at the end, so that a message viewing a reused chunk would show.
      const events: Array<{ event: ReceivedEvent } | { normalized: ReturnType<typeof normalize> }> = [];
      for (const chunk of split(wire, cuts)) {
        reader.push(chunk);
        for (let event = reader.next(); event !== null; event = reader.next()) {
          // A compressed message's fragments may view the chunk: the transport keeps the chunk
          // until it is inflated, as this test does by inflating at once.
          events.push(event.type === 'compressed' ? { normalized: normalize(event) } : { event });
        }
        // What SocketReads does with a released chunk: the next read overwrites it.
        if (reader.release(chunk)) chunk.fill(0xee);
      }
      expect(events.map((e) => ('normalized' in e ? e.normalized : normalize(e.event)))).toEqual(expected);
      expect(reader.bufferedBytes).toBe(0);
    },
    TIMEOUT,
  );

  test.prop([
    fc.boolean(),
    fc.boolean(),
    fc.oneof(
      fc.uint8Array({ maxLength: 4096 }),
      // Plausible starts make the reader go deeper than pure noise would: a header, then noise.
      fc.tuple(fc.constantFrom(0x01, 0x02, 0x00, 0x81, 0x82, 0x80, 0x89, 0x8a, 0x88, 0xc1), fc.uint8Array({ maxLength: 4096 }))
        .map(([b0, rest]) => Uint8Array.of(b0, ...rest)),
    ),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
  ], params)(
    'random bytes end in a ProtocolError with a valid close code, or wait for more; the message held stays within its limit',
    (server, deflate, bytes, cuts) => {
      const maxPayload = 512;
      const limit = maxPayload + (deflate ? compressedSlack(maxPayload) : 0);
      const reader = new MessageReader({ expectMasked: server, maxPayload, deflate });
      try {
        for (const chunk of split(Buffer.from(bytes), cuts)) {
          reader.push(chunk);
          for (let i = 0; i <= bytes.length; i++) {
            const event = reader.next();
            expect(reader.assembledBytes).toBeLessThanOrEqual(limit);
            if (event === null) break;
            if (event.type === 'text' || event.type === 'binary') {
              expect(typeof event.data === 'string' ? Buffer.byteLength(event.data) : event.data.length).toBeLessThanOrEqual(maxPayload);
            }
            if (event.type === 'compressed') expect(event.length).toBeLessThanOrEqual(limit);
          }
        }
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        expect([1002, 1007, 1009]).toContain(error.closeCode);
      }
    },
    TIMEOUT,
  );
});
