// sendPing(): a Node extension that sends a Ping and resolves with the round trip once the Pong
// arrives. Against real `ws` servers (which answer pings themselves) and a raw server of our own.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { sendPing, WebSocketStream } from '../src/index.js';
import { cleanup } from './helpers/cleanup.js';
import { rejectionOf, withTimeout } from './helpers/timing.js';
import { startWsPeer } from './helpers/ws-peer.js';

afterEach(cleanup);

describe('sendPing()', () => {
  it('resolves with the round trip once the pong arrives; the server sees the payload', async () => {
    const server = await startWsPeer();
    const connection = server.nextConnection();
    const wss = new WebSocketStream(server.url);
    await wss.opened;
    const ws = await connection;
    const seen: string[] = [];
    ws.on('ping', (data) => seen.push(data.toString()));

    const roundTrip = await withTimeout(sendPing(wss, new TextEncoder().encode('are you there')), 5_000, 'pong');
    expect(typeof roundTrip).toBe('number');
    expect(roundTrip).toBeGreaterThanOrEqual(0);
    expect(seen).toEqual(['are you there']);

    // Default payloads are 8 random bytes; several pings in flight each get their pong.
    const both = await withTimeout(Promise.all([sendPing(wss), sendPing(wss)]), 5_000, 'two pongs');
    expect(both).toHaveLength(2);
    expect(seen).toHaveLength(3);
    wss.close();
    await wss.closed;
  });

  it('a pong that answers only the latest ping also answers the earlier ones', async () => {
    const server = await startWsPeer({ autoPong: false });
    const connection = server.nextConnection();
    const wss = new WebSocketStream(server.url);
    await wss.opened;
    const ws = await connection;
    const payloads: Buffer[] = [];
    ws.on('ping', (data) => {
      payloads.push(data);
      if (payloads.length === 2) ws.pong(data); // only the second is answered
    });
    const pings = [sendPing(wss), sendPing(wss)];
    expect(await withTimeout(Promise.all(pings), 5_000, 'pongs')).toHaveLength(2);
    wss.close();
  });

  it('rejects before the connection opens, after it closes, for a long payload, and when it closes first', async () => {
    const server = await startWsPeer({ autoPong: false });
    const connection = server.nextConnection();
    const wss = new WebSocketStream(server.url);
    expect(await rejectionOf(sendPing(wss))).toMatchObject({ name: 'InvalidStateError' });
    await wss.opened;
    const ws = await connection;
    expect(await rejectionOf(sendPing(wss, new Uint8Array(126)))).toBeInstanceOf(RangeError);

    const unanswered = sendPing(wss); // autoPong is off: no pong will come
    const rejection = rejectionOf(unanswered);
    await once(ws, 'ping');
    ws.close(1000);
    expect(await rejection).toMatchObject({ name: 'InvalidStateError', message: 'The WebSocket closed before the pong arrived' });
    await wss.closed;
    expect(await rejectionOf(sendPing(wss))).toMatchObject({ name: 'InvalidStateError' });
  });
});
