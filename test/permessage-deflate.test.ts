// permessage-deflate negotiation (RFC 7692 7), sans-I/O: the client's offer, the server's choice,
// and the strict check of the server's answer. No socket: header strings in, parameters out.
import { describe, expect, it } from 'vitest';
import { parseExtensionHeader } from '../src/protocol/extension-header.js';
import {
  acceptServerAnswer,
  formatOffer,
  negotiateAsServer,
  type ClientDeflateOffer,
  type ServerDeflatePolicy,
} from '../src/protocol/permessage-deflate.js';

const chrome: ClientDeflateOffer = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: undefined,
  clientMaxWindowBits: true,
};

const defaults: ServerDeflatePolicy = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

describe('the extension header grammar', () => {
  it('parses extensions, bare and valued parameters, quoted values and empty list elements', () => {
    expect(parseExtensionHeader('permessage-deflate; client_max_window_bits, , foo; a="1" ;b=x')).toEqual([
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'foo', params: [['a', '1'], ['b', 'x']] },
    ]);
  });

  it.each(['permessage-deflate;', 'permessage-deflate; a=', 'permessage-deflate; a="1', 'a b', '=', ' , '])(
    'rejects %j',
    (header) => expect(() => parseExtensionHeader(header)).toThrow(/Invalid Sec-WebSocket-Extensions header/),
  );
});

describe('the client offer', () => {
  it('defaults to what Chrome sends', () => {
    expect(formatOffer(chrome)).toBe('permessage-deflate; client_max_window_bits');
  });

  it('names every parameter asked for', () => {
    expect(formatOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 12 }))
      .toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12');
  });
});

describe('the client checks the server answer', () => {
  it('no header: not agreed', () => {
    expect(acceptServerAnswer(undefined, chrome)).toBeNull();
    expect(acceptServerAnswer('  ', chrome)).toBeNull();
  });

  it('accepts a plain answer and every parameter the server may add', () => {
    expect(acceptServerAnswer('permessage-deflate', chrome)).toEqual({
      serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15,
    });
    expect(acceptServerAnswer(
      'Permessage-Deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits="10"',
      chrome,
    )).toEqual({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 10 });
  });

  it.each([
    ['permessage-deflate; foo', chrome, /unknown permessage-deflate parameter foo/],
    ['permessage-deflate; server_max_window_bits=10; server_max_window_bits=10', chrome, /repeated the permessage-deflate parameter server_max_window_bits/],
    ['permessage-deflate; server_max_window_bits=16', chrome, /server_max_window_bits=16; it must be an integer from 8 to 15/],
    ['permessage-deflate; server_max_window_bits=7', chrome, /server_max_window_bits=7; it must be/],
    ['permessage-deflate; server_max_window_bits=010', chrome, /it must be an integer from 8 to 15/],
    ['permessage-deflate; server_max_window_bits', chrome, /server_max_window_bits without a value/],
    ['permessage-deflate; client_max_window_bits', chrome, /client_max_window_bits without a value/],
    ['permessage-deflate; server_no_context_takeover=1', chrome, /server_no_context_takeover a value \("1"\); it takes none/],
    ['permessage-deflate, permessage-deflate', chrome, /more than once/],
    ['x-webkit-deflate-frame', chrome, /extension that was not offered: x-webkit-deflate-frame/],
    ['permessage-deflate', null, /extension that was not offered: permessage-deflate/],
    ['permessage-deflate; client_max_window_bits=10', { ...chrome, clientMaxWindowBits: false }, /client_max_window_bits, which the offer did not include/],
    ['permessage-deflate; client_max_window_bits=12', { ...chrome, clientMaxWindowBits: 10 }, /client_max_window_bits=12, above the 10 offered/],
    ['permessage-deflate; client_max_window_bits=8', chrome, /zlib cannot compress with a window under 9 bits/],
    ['permessage-deflate', { ...chrome, serverMaxWindowBits: 10 }, /did not answer server_max_window_bits/],
    ['permessage-deflate; server_max_window_bits=11', { ...chrome, serverMaxWindowBits: 10 }, /server_max_window_bits=11, above the 10 offered/],
    ['permessage-deflate', { ...chrome, serverNoContextTakeover: true }, /did not accept server_no_context_takeover/],
    ['permessage-deflate; a=', chrome, /Invalid Sec-WebSocket-Extensions header/],
  ] as const)('rejects %j', (header, offer, message) => {
    expect(() => acceptServerAnswer(header, offer)).toThrow(message);
  });

  it('holds to its own client_max_window_bits limit even when the server does not echo it', () => {
    expect(acceptServerAnswer('permessage-deflate', { ...chrome, clientMaxWindowBits: 11 })?.clientMaxWindowBits).toBe(11);
  });
});

describe('the server picks an offer', () => {
  it('answers Chrome\'s offer without parameters', () => {
    expect(negotiateAsServer('permessage-deflate; client_max_window_bits', defaults)).toEqual({
      params: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
      answer: 'permessage-deflate',
    });
  });

  it('answers python-websockets\' offer (server_max_window_bits=12 in the client\'s offer is echoed)', () => {
    expect(negotiateAsServer('permessage-deflate; server_max_window_bits=12; client_max_window_bits=12', defaults)).toEqual({
      params: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 12, clientMaxWindowBits: 12 },
      answer: 'permessage-deflate; server_max_window_bits=12; client_max_window_bits=12',
    });
  });

  it('applies its policy', () => {
    const policy = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 9 };
    expect(negotiateAsServer('permessage-deflate; client_max_window_bits', policy)?.answer)
      .toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9');
    // client_max_window_bits is answered only to a client that offered it.
    expect(negotiateAsServer('permessage-deflate', policy)?.params.clientMaxWindowBits).toBe(15);
  });

  it('echoes server_max_window_bits=15 when the client asked for it', () => {
    expect(negotiateAsServer('permessage-deflate; server_max_window_bits=15', defaults)?.answer).toBe('permessage-deflate; server_max_window_bits=15');
  });

  it('declines broken offers and takes the next acceptable one (RFC 7692 5)', () => {
    const header = 'permessage-deflate; foo, permessage-deflate; server_max_window_bits=8, permessage-deflate; '
      + 'server_max_window_bits=20, x-other, permessage-deflate; client_max_window_bits; client_max_window_bits, permessage-deflate; server_no_context_takeover';
    expect(negotiateAsServer(header, defaults)?.answer).toBe('permessage-deflate; server_no_context_takeover');
  });

  it('returns null when nothing acceptable is offered', () => {
    expect(negotiateAsServer(undefined, defaults)).toBeNull();
    expect(negotiateAsServer('x-webkit-deflate-frame', defaults)).toBeNull();
    expect(negotiateAsServer('permessage-deflate; bogus', defaults)).toBeNull();
  });

  it('throws on a header outside the grammar (answered with 400)', () => {
    expect(() => negotiateAsServer('permessage-deflate; =', defaults)).toThrow(/Invalid Sec-WebSocket-Extensions/);
  });
});
