// Differential test of the classic WebSocket: every scenario of websocket-scenarios.mjs runs twice,
// with our WebSocket (a Node 20 child loading a bundle of src/) and with Node 24's built-in one
// (undici's, a child process from the node@24 package), against the same servers on 127.0.0.1: a
// `ws` server, and a raw TCP server for what `ws` would never do. The traces (event types and
// order, readyState, code, reason, wasClean, data types and contents, bufferedAmount, exceptions)
// must be identical, except where the WHATWG WebSockets Standard says otherwise; each such case
// is marked below with the rule it follows.
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as WsPeer } from 'ws';
import { frame, startRawServer, type RawConnection, type RawServer, closedPort } from '../helpers/raw-server.js';
import { bundleLibrary, removeBundles } from '../helpers/node-process.js';
import { node24Binary } from '../node24.js';

const run = promisify(execFile);
const SCENARIOS = resolve('test/interop/websocket-scenarios.mjs');

type Entry = Record<string, unknown> & { type: string };
interface Trace {
  node: string;
  trace: Entry[];
}

let bundle: string;
let http: Server | undefined;
let wsServer: WebSocketServer | undefined;
let raw: RawServer | undefined;

beforeAll(async () => {
  bundle = await bundleLibrary();
});
afterAll(removeBundles);

afterEach(async () => {
  for (const client of wsServer?.clients ?? []) client.terminate();
  wsServer?.close();
  wsServer = undefined;
  if (http) {
    http.closeAllConnections();
    await new Promise<void>((done) => http!.close(() => done()));
    http = undefined;
  }
  await raw?.close();
  raw = undefined;
});

/** The `ws` server: what it does depends on the request path. */
async function startWsServer(): Promise<string> {
  wsServer = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => [...offered].at(-1) ?? false,
  });
  http = createServer();
  const sockets = new Set<Socket>();
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  http.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (request.url === '/refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wsServer!.handleUpgrade(request, socket, head, (peer) => onWsConnection(peer, request.url ?? '/'));
  });
  http.listen(0, '127.0.0.1');
  await new Promise((done) => http!.once('listening', done));
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

function onWsConnection(peer: WsPeer, path: string): void {
  switch (path) {
    case '/echo':
    case '/protocols':
      peer.on('message', (data, isBinary) => peer.send(data as Buffer, { binary: isBinary }));
      return;
    case '/three-binary':
      for (let i = 0; i < 3; i++) peer.send(Buffer.from([i]));
      return;
    case '/server-close':
      peer.send('last message');
      peer.close(4002, 'server reason \u00e9');
      return;
    case '/bom':
      peer.send('\ufeffshort');
      peer.send(`\ufeff${'long'.repeat(100)}`);
      return;
    case '/server-close-no-code':
      peer.close();
      return;
    case '/flood-on-go':
      peer.on('message', () => {
        for (let i = 0; i < 100; i++) peer.send(`late ${i}`);
      });
      return;
    default:
      peer.terminate();
  }
}

/** The raw TCP server: a correct handshake, then what `ws` would never do. */
async function startRaw(): Promise<string> {
  raw = await startRawServer(async (conn: RawConnection) => {
    // The client ends TCP after a failure; end ours too, so that its close event is not held up
    // until its closing timeout.
    conn.socket.on('end', () => conn.socket.end());
    switch (conn.request.path) {
      case '/bad-protocol':
        await conn.acceptHandshake({ headers: ['Sec-WebSocket-Protocol: other'] });
        return;
      case '/drop-handshake':
        conn.socket.destroy();
        return;
      case '/drop-fin':
        await conn.acceptHandshake({ extra: frame(0x1, 'last words') });
        conn.socket.end();
        return;
      case '/drop-rst':
        await conn.acceptHandshake({ extra: frame(0x1, 'last words') });
        setTimeout(() => conn.socket.resetAndDestroy(), 50);
        return;
      case '/close-then-rst':
        // Reads nothing: the client's 16 MiB message cannot be completely written.
        conn.socket.pause();
        await conn.acceptHandshake();
        setTimeout(() => conn.socket.write(frame(0x8, Buffer.concat([Buffer.from([0x0f, 0xa3]), Buffer.from('going')]))), 200);
        setTimeout(() => conn.socket.resetAndDestroy(), 600);
        return;
      case '/close-then-rst-idle':
        await conn.acceptHandshake({ extra: frame(0x8, Buffer.concat([Buffer.from([0x0f, 0xa4]), Buffer.from('bye')])) });
        setTimeout(() => conn.socket.resetAndDestroy(), 300);
        return;
      case '/invalid-utf8':
        await conn.acceptHandshake({ extra: frame(0x1, Buffer.from([0xc3, 0x28])) });
        return;
      default:
        conn.socket.destroy();
    }
  });
  return `ws://127.0.0.1:${raw.port}`;
}

async function runScenario(binary: string, implementation: string, scenario: string, urls: object): Promise<Trace> {
  const { stdout } = await run(binary, [SCENARIOS, implementation, scenario, JSON.stringify(urls)], { timeout: 20_000 });
  return JSON.parse(stdout.trim()) as Trace;
}

/** Both traces of one scenario: ours on Node 20, the built-in one on Node 24, run side by side. */
async function traces(scenario: string): Promise<{ ours: Entry[]; node24: Entry[] }> {
  const urls = { ws: await startWsServer(), raw: await startRaw(), closed: `ws://127.0.0.1:${await closedPort()}/` };
  const [ours, node24] = await Promise.all([
    runScenario(process.execPath, bundle, scenario, urls),
    runScenario(node24Binary(), 'global', scenario, urls),
  ]);
  expect(ours.node).toMatch(/^v20\./);
  expect(node24.node).toMatch(/^v24\./);
  return { ours: ours.trace, node24: node24.trace };
}

/** The scenarios whose traces must be identical, with what they must contain. */
const IDENTICAL: Array<[string, (trace: Entry[]) => void]> = [
  ['open-protocols', (trace) => {
    expect(trace.find((e) => e.type === 'open')).toMatchObject({ protocol: 'superchat', extensions: '', readyState: 1 });
    expect(trace.at(-1)).toMatchObject({ type: 'close', code: 1000, wasClean: true, readyState: 3 });
  }],
  ['open-protocol-string', (trace) => {
    expect(trace.find((e) => e.type === 'open')).toMatchObject({ protocol: 'chat' });
  }],
  ['echo-every-type', (trace) => {
    const messages = trace.filter((e) => e.type === 'message');
    expect(messages.map((e) => e.dataType)).toEqual([
      'Blob', 'string', 'Blob', 'Blob', 'Blob', 'Blob', 'string', 'Blob', 'string', 'ArrayBuffer', 'ArrayBuffer',
    ]);
    expect(trace.at(-1)).toMatchObject({ type: 'close', code: 4000, reason: 'done', wasClean: true });
  }],
  ['binarytype-switch', (trace) => {
    expect(trace.filter((e) => e.type === 'message').map((e) => e.dataType)).toEqual(['Blob', 'ArrayBuffer', 'Blob']);
  }],
  ['buffered-amount', (trace) => {
    expect(trace.filter((e) => e.type === 'note').map((e) => e.value)).toEqual([6, 16, 21, 0, 2]);
  }],
  ['client-close-code-reason', (trace) => {
    expect(trace.at(-1)).toMatchObject({ type: 'close', code: 4001, reason: 'client reason \u00e9', wasClean: true });
  }],
  ['client-close-no-code', (trace) => {
    expect(trace.at(-1)).toMatchObject({ type: 'close', code: 1005, reason: '', wasClean: true });
  }],
  ['client-close-reason-only', (trace) => {
    expect(trace.at(-1)).toMatchObject({ type: 'close', code: 1000, reason: 'reason only', wasClean: true });
  }],
  ['close-validation', (trace) => {
    expect(trace.filter((e) => e.type === 'call').map((e) => e.threw)).toEqual([
      'InvalidAccessError', 'InvalidAccessError', 'InvalidAccessError', 'SyntaxError', 'SyntaxError', null,
    ]);
    expect(trace.at(-1)).toMatchObject({ type: 'close', code: 4000, wasClean: true });
  }],
  ['server-close-code-reason', (trace) => {
    expect(trace.map((e) => e.type)).toEqual(['open', 'message', 'close']);
    expect(trace.at(-1)).toMatchObject({ code: 4002, reason: 'server reason \u00e9', wasClean: true });
  }],
  ['server-close-no-code', (trace) => {
    expect(trace.at(-1)).toMatchObject({ type: 'close', code: 1005, wasClean: true });
  }],
  ['messages-after-close', (trace) => {
    expect(trace.map((e) => e.type)).toEqual(['open', 'message', 'close']);
  }],
  ['send-while-connecting', (trace) => {
    expect(trace[0]).toMatchObject({ type: 'call', threw: 'InvalidStateError' });
  }],
  ['refused-handshake', (trace) => {
    expect(trace).toMatchObject([
      { type: 'error', readyState: 3 },
      { type: 'close', readyState: 3, code: 1006, reason: '', wasClean: false },
    ]);
  }],
  ['nothing-listening', (trace) => {
    expect(trace.map((e) => [e.type, e.code])).toEqual([['error', undefined], ['close', 1006]]);
  }],
  ['subprotocol-not-offered', (trace) => {
    expect(trace.map((e) => [e.type, e.code])).toEqual([['error', undefined], ['close', 1006]]);
  }],
  ['drop-during-handshake', (trace) => {
    expect(trace.map((e) => [e.type, e.code])).toEqual([['error', undefined], ['close', 1006]]);
  }],
  // RFC 6455 7.2.1: "If at any point the underlying transport layer connection is unexpectedly
  // lost, the client MUST _Fail the WebSocket Connection_", so the standard fires error first.
  ['drop-after-open', (trace) => {
    expect(trace.map((e) => e.type)).toEqual(['open', 'message', 'error', 'close']);
    expect(trace.at(-1)).toMatchObject({ code: 1006, wasClean: false, readyState: 3 });
  }],
  ['reset-after-open', (trace) => {
    expect(trace.map((e) => e.type)).toEqual(['open', 'message', 'error', 'close']);
    expect(trace.at(-1)).toMatchObject({ code: 1006, wasClean: false });
  }],
  ['close-then-reset', (trace) => {
    expect(trace.map((e) => e.type)).toEqual(['open', 'close']);
    expect(trace.at(-1)).toMatchObject({ code: 4004, reason: 'bye', wasClean: true });
  }],
  ['invalid-utf8', (trace) => {
    expect(trace.map((e) => e.type)).toEqual(['open', 'error', 'close']);
    expect(trace.at(-1)).toMatchObject({ code: 1006, wasClean: false });
  }],
];

/**
 * The standard's "fire an event named error" creates a plain Event; undici fires an ErrorEvent
 * (a subclass with a message). Every other field of the error entries must match.
 */
function withStandardErrorEvents(trace: Entry[]): Entry[] {
  return trace.map((entry) => (entry.type === 'error' && entry.eventClass === 'ErrorEvent' ? { ...entry, eventClass: 'Event' } : entry));
}

describe('classic WebSocket: ours (Node 20) and Node 24 built-in record identical traces', () => {
  it.each(IDENTICAL)('%s', async (scenario, check) => {
    const { ours, node24 } = await traces(scenario);
    expect(ours).toEqual(withStandardErrorEvents(node24));
    check(ours);
  });
});

describe('where Node 24 departs from the standard, ours follows the standard', () => {
  it('send-after-close: bufferedAmount keeps growing', async () => {
    // "Any invocation of this method with a string argument that does not throw an exception must
    // increase the bufferedAmount attribute by the number of bytes needed to express the argument
    // as UTF-8", and: "If the WebSocket connection is closed, this attribute's value will only
    // increase with each call to the send() method." Node 24 leaves it at 0.
    const { ours, node24 } = await traces('send-after-close');
    const notes = (trace: Entry[]): unknown[] => trace.filter((e) => e.type === 'note').map((e) => e.value);
    expect(notes(ours)).toEqual([5, 8]);
    expect(notes(node24)).toEqual([0, 0]);
    expect(ours.find((e) => e.type === 'close')).toMatchObject({ bufferedAmount: 5 });
    const withoutAmounts = (trace: Entry[]): Entry[] => trace
      .filter((e) => e.type !== 'note')
      .map(({ bufferedAmount: _, ...entry }) => entry as Entry);
    expect(withoutAmounts(ours)).toEqual(withoutAmounts(withStandardErrorEvents(node24)));
  });

  it("close-then-reset-while-sending: the peer's code, and not clean", async () => {
    // The server's Close (4003 "going") arrives while our 16 MiB message is still being written,
    // then TCP is reset. A Close cannot follow half a frame, so ours was never sent: the closing
    // handshake did not complete, and RFC 6455 7.1.4 calls only a completed one clean. "The
    // WebSocket connection close code" is still the code of the Close frame received (7.1.5), and
    // the peer ended the connection, so no error event. Node 24 reports the same code but calls
    // the end clean (and resets bufferedAmount to 0).
    const { ours, node24 } = await traces('close-then-reset-while-sending');
    expect(ours.map((e) => e.type)).toEqual(['open', 'close']);
    expect(ours.at(-1)).toMatchObject({ code: 4003, reason: 'going', wasClean: false });
    expect(node24.map((e) => e.type)).toEqual(['open', 'close']);
    expect(node24.at(-1)).toMatchObject({ code: 4003, reason: 'going', wasClean: true });
  });

  it('text-with-bom: a leading U+FEFF is part of the message', async () => {
    // "|type| indicates that the data is Text: a new DOMString containing |data|", the text of
    // the message (RFC 6455 5.6: UTF-8 text); nothing says to strip a byte order mark. Node 24
    // decodes with a default TextDecoder, which removes it.
    const { ours, node24 } = await traces('text-with-bom');
    const texts = (trace: Entry[]): unknown[] => trace.filter((e) => e.type === 'message').map((e) => e.firstCodeUnit);
    expect(texts(ours)).toEqual([0xfeff, 0xfeff]);
    expect(texts(node24)).toEqual(['s'.charCodeAt(0), 'l'.charCodeAt(0)]);
    const shape = (trace: Entry[]): unknown[] => trace.map((e) => [e.type, e.readyState, e.dataType, e.code, e.wasClean]);
    expect(shape(ours)).toEqual(shape(node24));
  });

  it('close-while-connecting: error and close come after close() returns, as a queued task', async () => {
    // close() "If the WebSocket connection is not yet established: Fail the WebSocket connection
    // and set the readyState attribute's value to CLOSING", and "When the WebSocket connection is
    // closed, possibly cleanly, the user agent must queue a task to run the following substeps:
    // Change the readyState attribute's value to CLOSED (3). If the user agent was required to
    // fail the WebSocket connection ... fire an event named error ... Fire an event named close".
    // Node 24 dispatches error and close synchronously inside close(), and readyState is CLOSING
    // (2) again once close() returns, after the close event said CLOSED.
    const { ours, node24 } = await traces('close-while-connecting');
    const error = { type: 'error', readyState: 3, bufferedAmount: 0 };
    const close = { type: 'close', readyState: 3, bufferedAmount: 0, code: 1006, reason: '', wasClean: false, eventClass: 'CloseEvent' };
    const note = { type: 'note', what: 'readyState after close()', value: 2 };
    expect(ours).toEqual([note, { ...error, eventClass: 'Event' }, close]);
    expect(node24).toEqual([{ ...error, eventClass: 'ErrorEvent' }, close, note]);
  });
});
